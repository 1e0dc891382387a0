import pytest

from hypervisor_sim import (
    AccessRule,
    BootConfig,
    GuestSpec,
    HostSpec,
    IncompatibleMode,
    VirtualSwitch,
    plan_boot,
    plan_image_copy,
)
from hypervisor_sim.boot import STAGES

HOST = HostSpec("h-01", disk_mibps=500, nic_mibps=1250)
LINUX = GuestSpec(2, 4096)
WIN = GuestSpec(4, 8192, 40, "windows", "Windows Server 2022", "nt-10.0", pv_aware=False, open_source_kernel=False)
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop"


def cfg(**kw):
    base = dict(hostname="web-1", mac="52:54:00:12:34:56", ip="10.0.0.5", gateway="10.0.0.1", dns=("10.0.0.2",),
                access_rules=(AccessRule("tcp", 22, 22, "0.0.0.0/0"),), ssh_public_key=KEY)
    return BootConfig(**(base | kw))


# -- images --------------------------------------------------------------------------------


def test_copy_is_bounded_by_the_slowest_of_disk_nic_and_source():
    plan = plan_image_copy(2048, HOST, cached=False)
    assert plan.method == "copy" and plan.bottleneck == "disk"
    assert plan.duration_s == pytest.approx(2048 / 500, abs=1.0)
    assert plan.bytes_copied == 2048 << 20
    slow_src = plan_image_copy(2048, HOST, cached=False, source_mibps=100)
    assert slow_src.bottleneck == "source" and slow_src.duration_s > 20


def test_clone_is_a_small_constant_and_much_faster_than_a_copy():
    small, large = plan_image_copy(512, HOST, cached=True), plan_image_copy(20480, HOST, cached=True)
    assert small.method == large.method == "clone"
    assert small.duration_s == large.duration_s < 0.5
    assert large.bytes_copied < (1 << 20)
    assert plan_image_copy(20480, HOST, cached=False).duration_s > 100 * large.duration_s
    assert any("copy-on-write" in line for line in large.console)


# -- boot ----------------------------------------------------------------------------------


def test_stage_order_and_total():
    plan = plan_boot(HOST, LINUX, "hardware_assisted", cfg())
    assert tuple(s.name for s in plan.stages) == STAGES
    assert plan.total_s == pytest.approx(sum(s.duration_s for s in plan.stages))
    assert all(s.duration_s > 0 and s.console for s in plan.stages)


def test_container_skips_firmware_bootloader_and_kernel():
    plan = plan_boot(HOST, LINUX, "container", cfg())
    assert tuple(s.name for s in plan.stages) == ("init", "configure", "services")
    assert plan.total_s < plan_boot(HOST, LINUX, "hardware_assisted", cfg()).total_s / 3


def test_emulation_is_the_slowest_mode():
    totals = {m: plan_boot(HOST, LINUX, m, cfg()).total_s
              for m in ("emulation", "binary_translation", "paravirtualization", "hardware_assisted")}
    assert max(totals, key=totals.get) == "emulation"
    assert totals["emulation"] > 3 * totals["hardware_assisted"]


def test_durations_depend_on_vcpus_memory_and_os():
    small = plan_boot(HOST, GuestSpec(1, 1024), "hardware_assisted", cfg())
    big = plan_boot(HOST, GuestSpec(16, 131072), "hardware_assisted", cfg())
    stage = {s.name: s.duration_s for s in big.stages}
    assert stage["kernel"] > {s.name: s.duration_s for s in small.stages}["kernel"]
    assert plan_boot(HOST, WIN, "hardware_assisted", cfg()).total_s > 2 * small.total_s


def test_jitter_comes_from_the_seed_only():
    a = plan_boot(HOST, LINUX, "hardware_assisted", cfg(), seed=1)
    assert a == plan_boot(HOST, LINUX, "hardware_assisted", cfg(), seed=1)
    assert a.total_s != plan_boot(HOST, LINUX, "hardware_assisted", cfg(), seed=2).total_s


def test_console_looks_like_a_linux_boot_and_records_the_configuration():
    plan = plan_boot(HOST, LINUX, "hardware_assisted", cfg(user_data="#!/bin/sh\necho hi\n"))
    text = "\n".join(plan.console)
    assert "SeaBIOS" in text and "GNU GRUB" in text
    assert "[    0.000000] Linux version 5.15.0" in text
    assert "Hypervisor detected: KVM" in text
    assert "Set hostname to web-1" in text
    assert "eth0: 52:54:00:12:34:56 10.0.0.5/24" in text
    assert "Authorized SSH key for ubuntu: SHA256:" in text
    a = plan.applied
    assert a["hostname"] == "web-1" and a["mac"] == "52:54:00:12:34:56" and a["ip"] == "10.0.0.5"
    assert a["dns"] == ["10.0.0.2"] and a["credential"] == "ssh_key" and a["user_data_bytes"] == 18
    assert a["access_rules"] == [{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}]
    assert a["vswitch_port"]["rules"] == ["allow tcp 22 from 0.0.0.0/0"]


def test_windows_gets_a_generated_password_that_never_appears_anywhere():
    plan = plan_boot(HOST, WIN, "hardware_assisted", cfg(ssh_public_key=None, password="S3cret-Pa55"))
    text = "\n".join(plan.console)
    assert "Generated password for Administrator" in text
    assert plan.applied["credential"] == "password"
    assert "S3cret-Pa55" not in text and "S3cret-Pa55" not in repr(plan.applied)
    assert "S3cret-Pa55" not in repr(cfg(password="S3cret-Pa55"))


def test_rules_land_on_the_given_vswitch_and_are_enforced():
    sw = VirtualSwitch()
    plan_boot(HOST, LINUX, "hardware_assisted", cfg(), vswitch=sw)
    assert sw.deliver_to_ip("10.0.0.5", "tcp", 22, "198.51.100.7").allowed
    assert not sw.deliver_to_ip("10.0.0.5", "tcp", 3389, "198.51.100.7").allowed


def test_incompatible_mode_raises_with_reasons():
    with pytest.raises(IncompatibleMode) as exc:
        plan_boot(HOST, WIN, "paravirtualization", cfg())
    assert "closed source" in exc.value.reasons[0]


@pytest.mark.parametrize("kw", [dict(hostname="-bad-"), dict(mac="52:54:00:12:34"), dict(ip="10.0.0.300"),
                                dict(gateway="192.168.0.1"), dict(dns=("not-an-ip",))])
def test_boot_config_validation(kw):
    with pytest.raises(ValueError):
        cfg(**kw)
