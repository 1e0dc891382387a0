import pytest

from hypervisor_sim import AccessRule, HostSpec, VirtualSwitch, device_performance, share_bandwidth
from hypervisor_sim.memory import (
    PENALTY_US,
    RECLAIM_ORDER,
    GuestMemory,
    page_walk_references,
    paging_cost,
    plan_reclamation,
)


def test_nested_walk_is_24_references_for_4_level_tables():
    assert page_walk_references("nested") == 24
    assert page_walk_references("shadow") == 4
    assert page_walk_references("nested", 5, 5) == 35


def test_shadow_vs_nested_trade_off():
    shadow, nested = paging_cost("shadow"), paging_cost("nested")
    assert shadow.tlb_miss_extra_ns < nested.tlb_miss_extra_ns  # shadow: cheap misses
    assert shadow.page_fault_extra_us > nested.page_fault_extra_us  # nested: cheap faults
    assert nested.walk_refs == 24


def guests(n=4, appliance="ubuntu", active=2048):
    return [GuestMemory(f"g{i}", 4096, active, appliance=appliance) for i in range(n)]


def test_no_overcommit_reclaims_nothing():
    plan = plan_reclamation(65536, guests())
    assert plan.needed_mib == 0 and plan.techniques == ()


def test_reclamation_follows_esx_order_and_uses_the_next_only_when_needed():
    assert RECLAIM_ORDER == ("page_sharing", "ballooning", "compression", "host_swap")
    small = plan_reclamation(16384 - 1000, guests())  # sharing alone covers 1000 MiB
    assert small.techniques == ("page_sharing",)
    mid = plan_reclamation(16384 - 6000, guests())
    assert mid.techniques == ("page_sharing", "ballooning")
    big = plan_reclamation(4096, guests(active=4096))  # nothing idle to balloon
    assert big.techniques == ("page_sharing", "compression", "host_swap")
    assert sum(s.reclaimed_mib for s in big.steps) == pytest.approx(big.needed_mib)


def test_penalties_increase_along_the_order():
    penalties = [PENALTY_US[t] for t in RECLAIM_ORDER]
    assert penalties == sorted(penalties)
    light = plan_reclamation(16384 - 1000, guests())
    heavy = plan_reclamation(4096, guests(active=4096))
    assert heavy.weighted_penalty_us > 100 * light.weighted_penalty_us


def test_page_sharing_needs_guests_of_the_same_appliance():
    same = plan_reclamation(16384 - 3000, guests())
    mixed = plan_reclamation(16384 - 3000, [GuestMemory(f"g{i}", 4096, 2048, appliance=f"a{i}") for i in range(4)])
    assert same.steps[0].reclaimed_mib > mixed.steps[0].reclaimed_mib


# -- devices and bandwidth -----------------------------------------------------------------


def test_device_kinds_order_throughput_latency_and_cpu():
    host = HostSpec("h")
    e, v, s = (device_performance(k, "nic", host) for k in ("emulated", "virtio", "sriov"))
    assert e.throughput_mibps < v.throughput_mibps < s.throughput_mibps <= host.nic_mibps
    assert e.latency_us > v.latency_us > s.latency_us
    assert e.cpu_us_per_op > v.cpu_us_per_op > s.cpu_us_per_op
    assert not s.migratable and v.migratable
    assert device_performance("virtio", "disk", host).throughput_mibps <= host.disk_mibps


def test_share_bandwidth_is_max_min_fair():
    assert share_bandwidth(1000, 4) == [250] * 4
    assert share_bandwidth(1000, [100, 800, 800]) == [100, 450, 450]
    assert sum(share_bandwidth(1000, [300, 300])) == 600


# -- vSwitch rules -------------------------------------------------------------------------


@pytest.fixture
def switch():
    sw = VirtualSwitch()
    sw.plug("52:54:00:00:00:01", "10.0.0.5", (
        AccessRule("tcp", 22, 22, "203.0.113.0/24"),
        AccessRule("tcp", 8000, 8100, "0.0.0.0/0"),
        AccessRule("udp", 53, 53, "10.0.0.0/8"),
        AccessRule("icmp", -1, -1, "0.0.0.0/0"),
    ))
    sw.plug("52:54:00:00:00:02", "10.0.0.6", (AccessRule("-1", 0, 0, "192.168.1.0/24"),))
    return sw


@pytest.mark.parametrize("proto, port, src, allowed", [
    ("tcp", 22, "203.0.113.9", True),
    ("tcp", 22, "198.51.100.1", False),  # CIDR
    ("udp", 22, "203.0.113.9", False),  # protocol
    ("tcp", 8050, "1.2.3.4", True),  # inside range
    ("tcp", 8101, "1.2.3.4", False),  # outside range
    ("udp", 53, "10.9.9.9", True),
    ("udp", 53, "11.0.0.1", False),
    ("icmp", 8, "8.8.8.8", True),
    ("tcp", 443, "203.0.113.9", False),  # default deny
])
def test_vswitch_enforces_protocol_port_and_cidr(switch, proto, port, src, allowed):
    decision = switch.check("vnet0", proto, port, src)
    assert decision.allowed is allowed
    assert ("default deny" in decision.reason) is (not allowed)


def test_all_protocols_rule_and_routing_by_ip(switch):
    assert switch.deliver_to_ip("10.0.0.6", "udp", 9999, "192.168.1.7").allowed
    assert not switch.deliver_to_ip("10.0.0.6", "tcp", 22, "192.168.2.7").allowed
    assert not switch.deliver_to_ip("10.0.0.99", "tcp", 22, "192.168.1.7").allowed


def test_ipv6_source_does_not_match_ipv4_rule(switch):
    assert not switch.check("vnet0", "tcp", 8050, "2001:db8::1").allowed


@pytest.mark.parametrize("args", [("gre", 0, 0, "0.0.0.0/0"), ("tcp", 0, 70000, "0.0.0.0/0"),
                                  ("tcp", 90, 80, "0.0.0.0/0"), ("tcp", 22, 22, "10.0.0.0/33")])
def test_access_rule_validation(args):
    with pytest.raises(ValueError):
        AccessRule(*args)


def test_duplicate_ip_refused(switch):
    with pytest.raises(ValueError, match="already plugged"):
        switch.plug("52:54:00:00:00:03", "10.0.0.5")
