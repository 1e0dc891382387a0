import json

import pytest

from hypervisor_sim import (
    FreeCapacity,
    GuestSpec,
    HostSpec,
    PlannedMove,
    plan_evacuation,
    simulate_migration,
    time_evacuation,
)
from hypervisor_sim.evacuation import default_concurrency
from hypervisor_sim.migration import MigrationConfig
from hypervisor_sim.spec import PROFILES

SRC = HostSpec("src")


def web(n):
    return [(f"web-{i}", GuestSpec(2, 2048, workload=PROFILES["web_server"]), "hardware_assisted") for i in range(n)]


def test_default_concurrency_follows_link_speed():
    assert default_concurrency(HostSpec("a", nic_mibps=119)) == 4
    assert default_concurrency(HostSpec("b", nic_mibps=1190)) == 8


def test_unplaceable_guests_are_reported_with_reasons():
    guests = [
        ("big", GuestSpec(4, 65536), "hardware_assisted"),
        ("win-pv", GuestSpec(2, 2048, os_family="windows", os_name="Windows Server 2003", pv_aware=False,
                             open_source_kernel=False), "paravirtualization"),
        ("vf", GuestSpec(2, 2048, nic="sriov"), "hardware_assisted"),
        ("ok", GuestSpec(2, 2048), "hardware_assisted"),
    ]
    dests = [(HostSpec("d1", hypervisor_version="1.2"), FreeCapacity(16, 32768)),
             (HostSpec("d0", hypervisor_version="1.0"), FreeCapacity(64, 262144))]
    plan = plan_evacuation(HostSpec("src", hypervisor_version="1.2"), guests, dests)
    reasons = dict(plan.unplaceable)
    assert set(reasons) == {"big", "win-pv", "vf"}
    assert "65536 MiB memory needed, 32768 free" in reasons["big"]
    assert "older than the source's 1.2" in reasons["big"]
    assert "closed source" in reasons["win-pv"]
    assert "SR-IOV" in reasons["vf"]
    assert plan.assignments == {"ok": "d1"}
    assert not plan.feasible


def test_capacity_is_consumed_as_guests_are_assigned():
    dests = [(HostSpec("d1"), FreeCapacity(4, 4096)), (HostSpec("d2"), FreeCapacity(4, 4096))]
    plan = plan_evacuation(SRC, web(5), dests)
    assert sorted(plan.assignments.values()) == ["d1", "d1", "d2", "d2"]  # spread, 2 x 2048 MiB each
    assert len(plan.unplaceable) == 1
    assert "2048 MiB memory needed, 0 free" in plan.unplaceable[0][1]


def peak_running(moves) -> int:
    events = sorted([(m.start_s, 1) for m in moves] + [(m.end_s, -1) for m in moves], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_concurrency_limit_is_respected(limit):
    dests = [(HostSpec("d1"), FreeCapacity(64, 65536)), (HostSpec("d2"), FreeCapacity(64, 65536))]
    plan = plan_evacuation(SRC, web(7), dests, per_host_concurrency=limit)
    assert plan.per_host_concurrency == limit
    assert sum(1 for m in plan.moves if m.start_s == 0) == limit
    # at every instant at most `limit` migrations run, and each later one starts when an earlier one ends
    assert peak_running(plan.moves) == limit
    ends = [m.end_s for m in plan.moves]
    assert all(any(e == pytest.approx(m.start_s) for e in ends) for m in plan.moves if m.start_s > 0)


def test_predicted_totals_and_downtimes():
    dests = [(HostSpec("d1"), FreeCapacity(64, 65536))]
    plan = plan_evacuation(SRC, web(2), dests, per_host_concurrency=1)
    assert plan.feasible
    assert plan.total_s == pytest.approx(sum(m.duration_s for m in plan.moves))
    assert set(plan.downtime_ms) == {"web-0", "web-1"}
    assert all(0 < d <= 300 for d in plan.downtime_ms.values())
    # sequential migrations take as long as each alone
    alone = simulate_migration(MigrationConfig(2048, SRC.nic_mibps, PROFILES["web_server"].dirty_rate_mibps,
                                               dirty_model="wws", wws_fraction=PROFILES["web_server"].wws_fraction,
                                               auto_converge=True, seed=0))
    assert plan.moves[0].duration_s == pytest.approx(alone.total_s)


def test_concurrent_moves_share_bandwidth():
    dests = [(HostSpec("d1"), FreeCapacity(64, 65536))]
    serial = plan_evacuation(SRC, web(4), dests, per_host_concurrency=1)
    parallel = plan_evacuation(SRC, web(4), dests, per_host_concurrency=4)
    assert max(m.duration_s for m in parallel.moves) > 2 * max(m.duration_s for m in serial.moves)
    assert plan_evacuation(SRC, web(4), dests, per_host_concurrency=4) == parallel  # deterministic


def test_duplicate_ids_rejected():
    with pytest.raises(ValueError):
        plan_evacuation(SRC, web(1) + web(1), [(HostSpec("d1"), FreeCapacity(8, 8192))])


# -- timing the moves the placement filters chose ----------------------------------------


def moves(sizes, dest=HostSpec("d1")):
    return [PlannedMove(f"g-{i}", GuestSpec(2, mib, workload=PROFILES["web_server"]), dest)
            for i, mib in enumerate(sizes)]


def test_a_free_slot_starts_the_next_move_without_waiting_for_the_slowest():
    timing = time_evacuation(SRC, moves([16384, 1024, 1024, 1024]), concurrency=2)
    big, first, second, third = timing.moves
    assert big.start_s == first.start_s == 0
    assert second.start_s == pytest.approx(first.end_s) and second.start_s < big.end_s
    assert third.start_s == pytest.approx(second.end_s) and third.end_s < big.end_s
    assert timing.total_s == pytest.approx(big.end_s)
    assert peak_running(timing.moves) == 2


def test_one_move_alone_is_the_plain_migration():
    (move,) = moves([4096])
    timing = time_evacuation(SRC, [move], seed=5)
    alone = simulate_migration(MigrationConfig.for_guest(move.guest, SRC, move.destination, auto_converge=True,
                                                         seed=5))
    assert timing.moves[0].duration_s == pytest.approx(alone.total_s)
    assert timing.moves[0].downtime_ms == pytest.approx(alone.downtime_ms)
    assert timing.feasible and timing.downtime_ms == {"g-0": timing.moves[0].downtime_ms}


def test_moves_share_the_source_nic_and_each_destination_nic():
    alone = time_evacuation(SRC, moves([4096])).moves[0]
    both = time_evacuation(SRC, moves([4096, 4096]))
    assert all(m.start_s == 0 and m.duration_s > 1.8 * alone.duration_s for m in both.moves)
    slow = HostSpec("slow", nic_mibps=119)
    to_d1 = moves([4096, 4096])[1]
    split = time_evacuation(SRC, [*moves([4096], slow), to_d1])  # one to a 1 GbE host, one to d1
    to_slow, to_fast = split.moves
    assert to_slow.duration_s > 9 * to_fast.duration_s  # the 1 GbE end binds, the other move gets the rest
    one_in = time_evacuation(SRC, moves([1024], slow)).moves[0]
    two_in = time_evacuation(SRC, moves([1024, 1024], slow)).moves
    assert all(m.duration_s > 1.8 * one_in.duration_s for m in two_in)  # they split the destination's NIC


def test_default_concurrency_is_per_host_by_its_nic():
    one_gbe = HostSpec("src1g", nic_mibps=119)
    timing = time_evacuation(one_gbe, moves([512] * 10))
    assert timing.concurrency == {"src1g": 4, "d1": 8}
    assert peak_running(timing.moves) == 4
    assert peak_running(time_evacuation(SRC, moves([512] * 10)).moves) == 8
    narrow_dest = time_evacuation(SRC, moves([512] * 10, HostSpec("d1g", nic_mibps=119)))
    assert peak_running(narrow_dest.moves) == 4


def test_the_given_destination_is_timed_not_second_guessed():
    no_vtx = HostSpec("old", cpu_features=frozenset({"lm"}))  # the filters, not the timer, judge this
    timing = time_evacuation(SRC, moves([1024], no_vtx))
    assert timing.moves[0].destination == "old" and timing.moves[0].outcome == "completed"
    assert json.loads(json.dumps(timing.to_dict()))["moves"][0]["guest_id"] == "g-0"


@pytest.mark.parametrize("bad, message", [
    (lambda: time_evacuation(SRC, moves([1024, 1024])[:1] * 2), "unique"),
    (lambda: time_evacuation(SRC, moves([1024], SRC)), "is the source host"),
    (lambda: time_evacuation(SRC, [PlannedMove("vf", GuestSpec(2, 1024, nic="sriov"), HostSpec("d1"))]), "SR-IOV"),
    (lambda: time_evacuation(SRC, moves([1024]), concurrency=0), "concurrency"),
])
def test_bad_moves_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()
