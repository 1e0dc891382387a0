import pytest

from hypervisor_sim import (
    GuestSpec,
    HostSpec,
    VirtMode,
    check_compatibility,
    relative_performance,
    supported_modes,
    vcpu_contention,
)
from hypervisor_sim.spec import PROFILES

HOST = HostSpec("h-01")
NO_VT = HostSpec("h-07", cpu_features=frozenset({"lm"}))
WIN = GuestSpec(2, 4096, os_family="windows", os_name="Windows Server 2003", kernel="nt-5.2",
                pv_aware=False, open_source_kernel=False)
LINUX = GuestSpec(2, 4096)


def test_mode_values_are_exact():
    assert [m.value for m in VirtMode] == ["emulation", "binary_translation", "paravirtualization",
                                           "hardware_assisted", "container"]
    assert VirtMode.parse("hardware-assisted") is VirtMode.HARDWARE_ASSISTED
    with pytest.raises(ValueError, match="unknown virtualization mode"):
        VirtMode.parse("magic")


def test_paravirtualization_refused_for_windows_with_reason():
    c = check_compatibility(HOST, WIN, "paravirtualization")
    assert not c.ok
    assert c.reasons == ("paravirtualization needs a modified guest kernel; Windows Server 2003 is closed source "
                         "and cannot make hypercalls",)


def test_paravirtualization_refused_for_unmodified_open_kernel():
    g = GuestSpec(1, 1024, kernel="linux-2.4", pv_aware=False)
    c = check_compatibility(HOST, g, VirtMode.PARAVIRTUALIZATION)
    assert not c.ok and "linux-2.4 has no paravirtual" in c.reasons[0]


def test_hardware_assisted_refused_without_vmx_or_svm():
    c = check_compatibility(NO_VT, LINUX, "hardware_assisted")
    assert not c.ok
    assert c.reasons == ("hardware-assisted mode needs VT-x (vmx) or AMD-V (svm); host h-07 has neither",)
    amd = HostSpec("amd-1", cpu_features=frozenset({"svm", "npt", "lm"}))
    assert check_compatibility(amd, LINUX, "hardware_assisted").ok


def test_container_needs_same_os_family():
    c = check_compatibility(HOST, WIN, "container")
    assert c.reasons == ("a container shares the host kernel: guest OS family windows differs from host linux",)
    assert check_compatibility(HOST, LINUX, "container").ok


def test_64bit_guest_needs_lm_except_under_emulation():
    old = HostSpec("old", cpu_features=frozenset({"vmx"}))
    c = check_compatibility(old, LINUX, "binary_translation")
    assert "64-bit guest needs a 64-bit capable host CPU (lm)" in c.reasons
    assert check_compatibility(old, GuestSpec(1, 512, arch="i386"), "binary_translation").ok
    assert check_compatibility(old, LINUX, "emulation").ok


def test_supported_modes():
    assert supported_modes(HOST, WIN) == [VirtMode.EMULATION, VirtMode.BINARY_TRANSLATION, VirtMode.HARDWARE_ASSISTED]
    assert supported_modes(NO_VT, LINUX) == [VirtMode.EMULATION, VirtMode.BINARY_TRANSLATION,
                                             VirtMode.PARAVIRTUALIZATION, VirtMode.CONTAINER]


def test_cpu_bound_is_near_native_in_every_mode_but_emulation():
    for mode in VirtMode:
        perf = relative_performance("cpu_bound", mode)
        if mode is VirtMode.EMULATION:
            assert perf < 0.3
        else:
            assert perf > 0.95, mode


@pytest.mark.parametrize("workload", ["syscall_heavy", "io_heavy"])
def test_syscall_and_io_heavy_follow_barham_fig3_ordering(workload):
    perf = {m: relative_performance(workload, m) for m in VirtMode}
    assert perf[VirtMode.PARAVIRTUALIZATION] > 0.85
    assert perf[VirtMode.HARDWARE_ASSISTED] > 0.85
    assert perf[VirtMode.BINARY_TRANSLATION] < 0.6
    assert perf[VirtMode.PARAVIRTUALIZATION] > 1.5 * perf[VirtMode.BINARY_TRANSLATION]
    assert perf[VirtMode.EMULATION] < perf[VirtMode.BINARY_TRANSLATION]


def test_hardware_assist_without_ept_pays_for_shadow_paging():
    no_ept = HostSpec("h", cpu_features=frozenset({"vmx", "lm"}))
    assert relative_performance("compile", "hardware_assisted", host=no_ept) < \
        relative_performance("compile", "hardware_assisted", host=HOST)


def test_vcpu_contention_gives_steal_time():
    assert vcpu_contention(2, 2).steal_fraction == 0
    c = vcpu_contention(4, 2)
    assert c.throughput_factor == pytest.approx(0.5) and c.steal_fraction == pytest.approx(0.5)
    assert vcpu_contention(1, 1, overcommit=2.0).steal_fraction == pytest.approx(0.5)
    assert vcpu_contention(1, 1, overcommit=2.0, utilization=0.25).steal_fraction == 0  # idle vCPUs don't compete
    base = relative_performance("cpu_bound", "hardware_assisted")
    assert relative_performance("cpu_bound", "hardware_assisted", overcommit=3.0) == pytest.approx(base / 3)


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown workload profile"):
        relative_performance("crypto_mining", "container")
    assert set(PROFILES) >= {"cpu_bound", "syscall_heavy", "io_heavy", "web_server", "database", "idle"}
