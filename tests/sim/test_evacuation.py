import pytest

from hypervisor_sim import FreeCapacity, GuestSpec, HostSpec, plan_evacuation, simulate_migration
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


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_concurrency_limit_is_respected(limit):
    dests = [(HostSpec("d1"), FreeCapacity(64, 65536)), (HostSpec("d2"), FreeCapacity(64, 65536))]
    plan = plan_evacuation(SRC, web(7), dests, per_host_concurrency=limit)
    assert plan.per_host_concurrency == limit
    assert all(len(w) <= limit for w in plan.waves)
    assert len(plan.waves) == -(-7 // limit)
    # at every instant, at most `limit` migrations are running
    events = sorted([(m.start_s, 1) for m in plan.moves] + [(m.start_s + m.duration_s, -1) for m in plan.moves],
                    key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak <= limit


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


def test_concurrent_waves_share_bandwidth():
    dests = [(HostSpec("d1"), FreeCapacity(64, 65536))]
    serial = plan_evacuation(SRC, web(4), dests, per_host_concurrency=1)
    parallel = plan_evacuation(SRC, web(4), dests, per_host_concurrency=4)
    assert max(m.duration_s for m in parallel.moves) > 2 * max(m.duration_s for m in serial.moves)
    assert plan_evacuation(SRC, web(4), dests, per_host_concurrency=4) == parallel  # deterministic


def test_duplicate_ids_rejected():
    with pytest.raises(ValueError):
        plan_evacuation(SRC, web(1) + web(1), [(HostSpec("d1"), FreeCapacity(8, 8192))])
