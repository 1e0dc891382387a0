"""CPU virtualization: which mode can run which guest, and what each mode costs.

Compatibility is a matrix of plain rules, each refusal explained in words the portal can show.

The cost model charges one second of native work under a mode:

    t_virt = f * U + (1 - f) * K + syscalls * c_sys + faults * c_fault + io * c_io + tlb * c_tlb

with f the user-mode share of the workload, U/K the slowdown of user/kernel code, and c_* the
extra cost per event over native (table COSTS, sources in each entry). Relative performance is
1 / t_virt, scaled by vCPU contention (steal time). The constants are chosen to reproduce the
qualitative results of Barham et al. 2003 (Xen, Fig. 3): CPU-bound code is near native in every
mode except emulation; system-call and I/O heavy code stays near native under
paravirtualization and hardware assistance and is far slower under binary translation.
"""

from __future__ import annotations

from dataclasses import dataclass

from .memory import paging_cost
from .spec import GuestSpec, HostSpec, VirtMode, WorkloadProfile, get_profile

__all__ = [
    "COSTS",
    "Compatibility",
    "Contention",
    "ModeCost",
    "IncompatibleMode",
    "check_compatibility",
    "mode_cost",
    "paging_for",
    "relative_performance",
    "supported_modes",
    "vcpu_contention",
]


@dataclass(frozen=True)
class Compatibility:
    ok: bool
    reasons: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.ok


class IncompatibleMode(ValueError):
    """Raised when asked to run a guest in a mode the matrix refuses; carries the reasons."""

    def __init__(self, reasons: tuple[str, ...] | list[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("; ".join(self.reasons))


def check_compatibility(host: HostSpec, guest: GuestSpec, mode: VirtMode | str) -> Compatibility:
    """Decide whether `guest` can run on `host` in `mode`, saying why not in plain words."""
    mode = VirtMode.parse(mode)
    reasons: list[str] = []
    if mode is VirtMode.EMULATION:
        return Compatibility(True, ())  # an emulator interprets any ISA, slowly

    if guest.arch not in ("x86_64", "i386"):
        reasons.append(f"{mode.label} runs x86 guests only; {guest.arch} needs emulation")
    if guest.is_64bit and not host.is_64bit:
        reasons.append("64-bit guest needs a 64-bit capable host CPU (lm)")

    if mode is VirtMode.PARAVIRTUALIZATION:
        if guest.closed_source:
            reasons.append(
                f"paravirtualization needs a modified guest kernel; {guest.os_name} is closed source "
                "and cannot make hypercalls"
            )
        elif not guest.pv_aware:
            reasons.append(
                f"paravirtualization needs a modified guest kernel; {guest.kernel} has no "
                "paravirtual (hypercall) support"
            )
    elif mode is VirtMode.HARDWARE_ASSISTED:
        if not host.has_hw_virt:
            reasons.append(
                f"hardware-assisted mode needs VT-x (vmx) or AMD-V (svm); host {host.name} has neither"
            )
    elif mode is VirtMode.CONTAINER:
        if guest.os_family != host.host_os_family:
            reasons.append(
                f"a container shares the host kernel: guest OS family {guest.os_family} differs from "
                f"host {host.host_os_family}"
            )
    # binary translation: runs unmodified x86 guests on any x86 host; only the arch checks apply
    return Compatibility(not reasons, tuple(reasons))


def supported_modes(host: HostSpec, guest: GuestSpec) -> list[VirtMode]:
    """Every mode the matrix accepts, in the enum's order."""
    return [m for m in VirtMode if check_compatibility(host, guest, m).ok]


# --------------------------------------------------------------------------------------------
# Cost model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModeCost:
    """Per-mode constants of the cost model; see module docstring for the formula."""

    user_factor: float  # slowdown of guest user-mode code
    kernel_factor: float  # slowdown of guest kernel code (excluding the per-event costs)
    syscall_us: float  # extra microseconds per system call
    io_us: float  # extra microseconds per I/O operation (default device of the mode)
    paging: str  # paging scheme, charged per fault / TLB miss from memory.PAGING_COSTS
    source: str


COSTS: dict[VirtMode, ModeCost] = {
    VirtMode.EMULATION: ModeCost(
        8.0, 8.0, 3.0, 60.0, "softmmu",
        "dynamic-translation emulator (QEMU TCG, Bellard 2005): every instruction translated, "
        "several times native; devices fully emulated in software",
    ),
    VirtMode.BINARY_TRANSLATION: ModeCost(
        1.0, 1.25, 2.5, 40.0, "shadow",
        "user code runs directly; kernel code is translated (Adams & Agesen 2006); a system call "
        "enters the VMM (~2,300 cycles vs 242 native); hosted I/O goes through a world switch to the "
        "host OS (Sugerman et al. 2001), tens of us per operation",
    ),
    VirtMode.PARAVIRTUALIZATION: ModeCost(
        1.0, 1.03, 0.05, 5.0, "direct",
        "Xen: guest kernel in ring 1, fast system-call trap handler bypasses the hypervisor; page "
        "tables updated by batched hypercalls; split drivers over event channels and shared rings "
        "(Barham et al. 2003)",
    ),
    VirtMode.HARDWARE_ASSISTED: ModeCost(
        1.0, 1.0, 0.0, 6.0, "nested",
        "VT-x/AMD-V non-root mode: system calls never exit; each I/O kick/interrupt is a VM exit "
        "(~1-2 us) plus virtio back-end work; EPT/NPT makes TLB misses 24 references",
    ),
    VirtMode.CONTAINER: ModeCost(
        1.0, 1.0, 0.03, 0.5, "native",
        "one shared kernel: only namespace/cgroup/seccomp checks on system calls and a veth/bridge "
        "or overlay hop on I/O",
    ),
}


def paging_for(mode: VirtMode | str, host: HostSpec | None = None) -> str:
    """Paging scheme a mode uses; hardware assist without EPT/NPT falls back to shadow paging."""
    mode = VirtMode.parse(mode)
    scheme = COSTS[mode].paging
    if mode is VirtMode.HARDWARE_ASSISTED and host is not None and not host.has_nested_paging:
        return "shadow_vtx"
    return scheme


def mode_cost(mode: VirtMode | str) -> ModeCost:
    return COSTS[VirtMode.parse(mode)]


@dataclass(frozen=True)
class Contention:
    """vCPU contention: steal is the share of wanted CPU time the guest does not get."""

    steal_fraction: float
    effective_vcpus: float
    throughput_factor: float


def vcpu_contention(vcpus: int, pcpus: int, overcommit: float = 1.0, utilization: float = 1.0) -> Contention:
    """Steal time from vCPUs outnumbering pCPUs.

    A guest cannot run more vCPUs at once than the `pcpus` available to it, and when the host's
    runnable vCPUs exceed its pCPUs by `overcommit` (demand scaled by `utilization`, since idle
    vCPUs do not compete) each vCPU gets 1 / load of a pCPU.
    """
    if vcpus < 1 or pcpus < 1:
        raise ValueError("vcpus and pcpus must be >= 1")
    if overcommit <= 0 or not 0 < utilization <= 1:
        raise ValueError("overcommit must be > 0 and utilization within (0, 1]")
    width = min(1.0, pcpus / vcpus)
    load = max(1.0, overcommit * utilization)
    factor = width / load
    return Contention(steal_fraction=1.0 - factor, effective_vcpus=vcpus * factor, throughput_factor=factor)


def virtualized_time(workload: WorkloadProfile, mode: VirtMode, host: HostSpec | None = None) -> float:
    """Seconds one native second of `workload` takes under `mode`, before contention."""
    c = COSTS[mode]
    pg = paging_cost(paging_for(mode, host))
    f = workload.cpu_bound_fraction
    return (
        f * c.user_factor
        + (1.0 - f) * c.kernel_factor
        + workload.syscalls_per_s * c.syscall_us * 1e-6
        + workload.page_faults_per_s * pg.page_fault_extra_us * 1e-6
        + workload.io_ops_per_s * c.io_us * 1e-6
        + workload.tlb_misses_per_s * pg.tlb_miss_extra_ns * 1e-9
    )


def relative_performance(
    workload: WorkloadProfile | str,
    mode: VirtMode | str,
    *,
    host: HostSpec | None = None,
    vcpus: int = 1,
    pcpus: int = 1,
    overcommit: float = 1.0,
) -> float:
    """Throughput relative to native (1.0 = native) of `workload` under `mode`.

    `host` selects nested vs shadow paging for hardware assistance; `vcpus`, `pcpus` and
    `overcommit` add steal time (vcpu_contention).
    """
    profile = get_profile(workload)
    m = VirtMode.parse(mode)
    base = 1.0 / virtualized_time(profile, m, host)
    return base * vcpu_contention(vcpus, pcpus, overcommit, profile.cpu_utilization).throughput_factor
