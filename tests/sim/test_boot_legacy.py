"""Legacy NT guests boot the way they did: BIOS and NTLDR, not UEFI."""
from hypervisor_sim import BootConfig, GuestSpec, HostSpec, plan_boot


def _console(guest: GuestSpec) -> str:
    plan = plan_boot(HostSpec("h"), guest, "hardware_assisted",
                     BootConfig(hostname="w", mac="02:00:00:00:00:01", ip="10.0.0.4", password="x"))
    return "\n".join(line for s in plan.stages for line in s.console)


def test_windows_2003_boots_with_bios_and_ntldr():
    text = _console(GuestSpec(vcpus=1, memory_mib=1024, os_family="windows", os_name="Windows Server 2003 R2",
                              kernel="nt-5.2", pv_aware=False, open_source_kernel=False, arch="i386"))
    assert "SeaBIOS" in text and "NTLDR" in text
    assert "UEFI" not in text and "winload.efi" not in text


def test_modern_windows_boots_with_uefi():
    text = _console(GuestSpec(vcpus=2, memory_mib=4096, os_family="windows", os_name="Windows Server 2019",
                              kernel="nt-10.0", pv_aware=False, open_source_kernel=False))
    assert "UEFI" in text and "winload.efi" in text


def test_restart_leaves_credentials_alone():
    plan = plan_boot(HostSpec("h"), GuestSpec(vcpus=1, memory_mib=1024, os_family="windows", pv_aware=False,
                                              open_source_kernel=False),
                     "hardware_assisted", BootConfig(hostname="w", mac="02:00:00:00:00:01", ip="10.0.0.4",
                                                     first_boot=False))
    text = "\n".join(line for s in plan.stages for line in s.console)
    assert "unchanged (set at first boot)" in text and "locked" not in text
    assert plan.applied["credential"] == "unchanged"
