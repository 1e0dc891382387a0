"""Balancing figures: the imbalance of a fleet and what one proposed move does to it."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hypervisor_sim import FleetLoads, HostLoad, imbalance, imbalance_priority, move_effect


def host(name, memory_mib, vcpus, memory_limit_mib=65536, vcpu_limit=32):
    return HostLoad(name, memory_mib, memory_limit_mib, vcpus, vcpu_limit)


def test_a_hosts_load_is_its_larger_share():
    assert host("a", 32768, 8).load == 0.5  # memory binds
    assert host("b", 8192, 24).load == 0.75  # vCPUs bind
    assert host("c", 0, 0).load == 0


def test_imbalance_is_the_population_standard_deviation_of_loads():
    assert imbalance([host("a", 13107, 0, 65535), host("b", 39321, 0, 65535)]) == pytest.approx(0.2)
    assert imbalance([host("a", 16384, 4), host("b", 16384, 4), host("c", 16384, 4)]) == 0
    loads = [0.1, 0.4, 0.9]
    fleet = [host(str(i), 0, round(x * 320), vcpu_limit=320) for i, x in enumerate(loads)]
    mean = sum(loads) / 3
    assert imbalance(fleet) == pytest.approx(math.sqrt(sum((x - mean) ** 2 for x in loads) / 3))
    assert imbalance(reversed(fleet)) == imbalance(fleet)
    assert imbalance([host("alone", 60000, 30)]) == imbalance([]) == 0


def test_a_move_from_the_busiest_to_the_idlest_host_lowers_the_imbalance():
    fleet = [host("busy", 49152, 12), host("mid", 32768, 8), host("idle", 8192, 2)]
    effect = move_effect(fleet, source="busy", destination="idle", memory_mib=16384, vcpus=4)
    assert (effect.source_load_before, effect.source_load_after) == (0.75, 0.5)
    assert (effect.destination_load_before, effect.destination_load_after) == (0.125, 0.375)
    assert effect.imbalance_after < effect.imbalance_before and effect.improvement > 0
    assert not effect.destination_above_source
    assert effect.imbalance_after == pytest.approx(imbalance([host("busy", 32768, 8), host("mid", 32768, 8),
                                                              host("idle", 24576, 6)]))
    assert json.loads(json.dumps(effect.to_dict()))["destination_above_source"] is False


def test_a_move_that_overshoots_leaves_the_destination_above_the_source():
    fleet = [host("a", 32768, 8), host("b", 16384, 4)]
    effect = move_effect(fleet, source="a", destination="b", memory_mib=24576, vcpus=2)
    assert effect.destination_above_source  # b ends at 0.625, a at 0.125: the next run would move it back
    assert effect.improvement < 0


def test_the_vcpu_share_counts_when_it_binds():
    fleet = [host("a", 8192, 30), host("b", 8192, 2)]
    effect = move_effect(fleet, source="a", destination="b", memory_mib=1024, vcpus=14)
    assert effect.source_load_after == 0.5 and effect.destination_load_after == 0.5
    assert effect.imbalance_after == 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(source="a", destination="a"), "must differ"),
    (dict(source="a", destination="zz"), "unknown host 'zz'"),
    (dict(source="b", destination="a", memory_mib=8192), "cannot hold a guest of 8192 MiB"),
    (dict(source="a", destination="b", vcpus=-1), "must not be negative"),
])
def test_bad_moves_say_what_is_wrong(kwargs, message):
    fleet = [host("a", 16384, 4), host("b", 4096, 1)]
    with pytest.raises(ValueError, match=message):
        move_effect(fleet, **({"memory_mib": 1024, "vcpus": 1} | kwargs))


def test_host_limits_are_checked():
    with pytest.raises(ValueError, match="limits must be positive"):
        HostLoad("x", 0, 0, 0, 8)
    with pytest.raises(ValueError, match="unique"):
        move_effect([host("a", 1024, 1), host("a", 0, 0)], source="a", destination="a", memory_mib=1, vcpus=1)


def test_priority_follows_the_drs_formula():
    assert imbalance_priority(0.1, 4) == 4  # the KB's example: 6 - ceil(0.1 / 0.1 x 2)
    assert imbalance_priority(0.0, 4) == 5
    assert imbalance_priority(0.5, 16) == 1
    levels = [imbalance_priority(x / 100, 9) for x in range(0, 40)]
    assert levels == sorted(levels, reverse=True)  # more uneven, more urgent
    with pytest.raises(ValueError):
        imbalance_priority(0.1, 0)


_fleets = st.lists(st.tuples(st.integers(0, 65536), st.integers(0, 32)), min_size=2, max_size=40)


@given(fleet=_fleets, data=st.data())
@settings(max_examples=200, deadline=None)
def test_many_moves_weighed_against_one_fleet_match_the_recomputed_figures(fleet, data):
    """FleetLoads weighs each move in O(1) from kept sums; the figures are those of recomputing the fleet."""
    hosts = [host(f"h{i}", m, v) for i, (m, v) in enumerate(fleet)]
    weighed = FleetLoads(hosts)
    for _ in range(5):
        a, b = data.draw(st.lists(st.sampled_from(hosts), min_size=2, max_size=2, unique_by=lambda h: h.name))
        mem, cpus = data.draw(st.integers(0, a.memory_mib)), data.draw(st.integers(0, a.vcpus))
        effect = weighed.move_effect(source=a.name, destination=b.name, memory_mib=mem, vcpus=cpus)
        after = [h.plus(-mem, -cpus) if h is a else h.plus(mem, cpus) if h is b else h for h in hosts]
        assert effect.imbalance_before == imbalance(hosts)
        assert effect.imbalance_after == pytest.approx(imbalance(after), abs=1e-9)
        assert (effect.source_load_after, effect.destination_load_after) == (after[hosts.index(a)].load,
                                                                             after[hosts.index(b)].load)
