"""Hosts, guests, virtualization modes and workload profiles.

Plain frozen value objects: every other module takes these as inputs, so the simulator stays a
function of its arguments (and a seed), never of hidden state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "PROFILES",
    "GuestSpec",
    "HostSpec",
    "VirtMode",
    "WorkloadProfile",
    "get_profile",
]


class VirtMode(StrEnum):
    """The five ways a guest can be run; values are the strings the portal stores."""

    EMULATION = "emulation"
    BINARY_TRANSLATION = "binary_translation"
    PARAVIRTUALIZATION = "paravirtualization"
    HARDWARE_ASSISTED = "hardware_assisted"
    CONTAINER = "container"

    @classmethod
    def parse(cls, value: VirtMode | str) -> VirtMode:
        """Accept an enum member or its string value (the bridge passes strings from the database)."""
        if isinstance(value, VirtMode):
            return value
        try:
            return cls(str(value).strip().lower().replace("-", "_"))
        except ValueError:
            known = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown virtualization mode {value!r}; expected one of {known}") from None

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


@dataclass(frozen=True)
class WorkloadProfile:
    """What one second of the workload does when run natively.

    The CPU cost model (cpu.py) charges each mode per event, so a profile is just event rates per
    second of native execution plus the share of that second spent in user-mode computation.
    `dirty_rate_mibps` and `wws_fraction` feed the live-migration dirty-page model.
    """

    name: str
    cpu_bound_fraction: float  # share of native time in user-mode computation (rest: guest kernel)
    syscalls_per_s: float
    page_faults_per_s: float
    io_ops_per_s: float
    tlb_misses_per_s: float = 5e5
    cpu_utilization: float = 1.0  # busy share of each vCPU; drives contention/steal
    dirty_rate_mibps: float = 50.0  # page writes, MiB/s, including rewrites of hot pages
    wws_fraction: float = 0.1  # writable working set as a share of guest memory

    def __post_init__(self) -> None:
        if not 0.0 <= self.cpu_bound_fraction <= 1.0:
            raise ValueError("cpu_bound_fraction must be within [0, 1]")
        if not 0.0 < self.cpu_utilization <= 1.0:
            raise ValueError("cpu_utilization must be within (0, 1]")
        if not 0.0 < self.wws_fraction <= 1.0:
            raise ValueError("wws_fraction must be within (0, 1]")
        for name in ("syscalls_per_s", "page_faults_per_s", "io_ops_per_s", "tlb_misses_per_s",
                     "dirty_rate_mibps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


# Rates are loosely calibrated to the benchmarks of Barham et al. 2003 (Fig. 3): SPEC INT2000
# (cpu_bound), Linux build (compile), OSDB-OLTP (database / syscall_heavy), dbench and SPEC WEB99
# (io_heavy / web_server). See README "cost model" for the resulting figures.
PROFILES: dict[str, WorkloadProfile] = {
    p.name: p
    for p in (
        WorkloadProfile("cpu_bound", 0.98, 200, 200, 20, tlb_misses_per_s=5e5, dirty_rate_mibps=20,
                        wws_fraction=0.05),
        WorkloadProfile("compile", 0.70, 20_000, 30_000, 1_000, tlb_misses_per_s=1e6,
                        dirty_rate_mibps=120, wws_fraction=0.2),
        WorkloadProfile("syscall_heavy", 0.30, 500_000, 5_000, 2_000, tlb_misses_per_s=8e5,
                        dirty_rate_mibps=60, wws_fraction=0.1),
        WorkloadProfile("io_heavy", 0.30, 50_000, 4_000, 25_000, tlb_misses_per_s=8e5,
                        dirty_rate_mibps=80, wws_fraction=0.15),
        WorkloadProfile("web_server", 0.50, 80_000, 4_000, 15_000, cpu_utilization=0.6,
                        dirty_rate_mibps=40, wws_fraction=0.08),
        WorkloadProfile("database", 0.40, 60_000, 8_000, 20_000, cpu_utilization=0.8,
                        dirty_rate_mibps=150, wws_fraction=0.25),
        WorkloadProfile("idle", 0.90, 100, 50, 10, tlb_misses_per_s=1e4, cpu_utilization=0.02,
                        dirty_rate_mibps=1, wws_fraction=0.01),
        # used by boot.py: firmware/kernel/init are fault- and I/O-heavy
        WorkloadProfile("boot", 0.30, 30_000, 50_000, 5_000, tlb_misses_per_s=1e6, dirty_rate_mibps=200,
                        wws_fraction=0.3),
    )
}

DEFAULT_PROFILE = PROFILES["web_server"]


def get_profile(workload: WorkloadProfile | str) -> WorkloadProfile:
    """Resolve a profile name (as stored by the portal) or pass a profile through."""
    if isinstance(workload, WorkloadProfile):
        return workload
    try:
        return PROFILES[str(workload)]
    except KeyError:
        raise ValueError(
            f"unknown workload profile {workload!r}; expected one of {', '.join(sorted(PROFILES))}"
        ) from None


OS_FAMILIES = ("linux", "windows", "bsd", "solaris")
ARCHES = ("x86_64", "i386")


@dataclass(frozen=True)
class HostSpec:
    """A physical host as the simulator sees it (capacity, CPU features, link rates)."""

    name: str
    sockets: int = 2
    cores_per_socket: int = 8
    threads_per_core: int = 2
    cpu_features: frozenset[str] = frozenset({"vmx", "ept", "lm"})
    memory_mib: int = 65536
    disk_mibps: float = 500.0
    nic_mibps: float = 1250.0
    hypervisor_version: str = "1.0"
    host_os_family: str = "linux"

    def __post_init__(self) -> None:
        if min(self.sockets, self.cores_per_socket, self.threads_per_core) < 1:
            raise ValueError("sockets, cores_per_socket and threads_per_core must be >= 1")
        if self.memory_mib <= 0 or self.disk_mibps <= 0 or self.nic_mibps <= 0:
            raise ValueError("memory_mib, disk_mibps and nic_mibps must be positive")
        object.__setattr__(self, "cpu_features", frozenset(f.lower() for f in self.cpu_features))

    @property
    def pcpus(self) -> int:
        """Hardware threads: what vCPUs are scheduled onto."""
        return self.sockets * self.cores_per_socket * self.threads_per_core

    @property
    def has_hw_virt(self) -> bool:
        return bool(self.cpu_features & {"vmx", "svm"})

    @property
    def has_nested_paging(self) -> bool:
        return bool(self.cpu_features & {"ept", "npt"})

    @property
    def is_64bit(self) -> bool:
        return "lm" in self.cpu_features


@dataclass(frozen=True)
class GuestSpec:
    """A guest (virtual machine or container) as requested by the portal."""

    vcpus: int
    memory_mib: int
    disk_gib: int = 10
    os_family: str = "linux"
    os_name: str = "Ubuntu 22.04"
    kernel: str = "linux-5.15"
    pv_aware: bool = True
    open_source_kernel: bool = True
    arch: str = "x86_64"
    workload: WorkloadProfile = field(default=DEFAULT_PROFILE)
    nic: str = "virtio"  # "emulated" | "virtio" | "sriov" (SR-IOV pins a guest to its host)
    appliance: str = ""  # image id; guests of one appliance share pages (memory.py)

    def __post_init__(self) -> None:
        if self.vcpus < 1 or self.memory_mib < 1 or self.disk_gib < 0:
            raise ValueError("vcpus and memory_mib must be >= 1, disk_gib >= 0")
        if self.os_family not in OS_FAMILIES:
            raise ValueError(f"os_family must be one of {', '.join(OS_FAMILIES)}, not {self.os_family!r}")
        if self.nic not in ("emulated", "virtio", "sriov"):
            raise ValueError("nic must be 'emulated', 'virtio' or 'sriov'")
        if isinstance(self.workload, str):
            object.__setattr__(self, "workload", get_profile(self.workload))

    @property
    def is_64bit(self) -> bool:
        return self.arch == "x86_64"

    @property
    def closed_source(self) -> bool:
        """Windows kernels are never modifiable by us, whatever the flag says."""
        return self.os_family == "windows" or not self.open_source_kernel
