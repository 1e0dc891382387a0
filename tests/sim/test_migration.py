import numpy as np
import pytest

from hypervisor_sim import Fault, MigrationConfig, MigrationRun, simulate_concurrent, simulate_migration, split_link
from hypervisor_sim.migration import WwsDirty, bernoulli_positions
from tests.bench.bench_migration import PurePythonWws


def test_non_convergent_uniform_stops_at_data_cap_and_says_why():
    res = simulate_migration(MigrationConfig(4096, 125, 180))
    assert res.outcome == "failed"
    assert res.converged_by == "data_cap"
    assert res.guest_location == "source"
    assert res.downtime_ms == 0
    assert "did not converge: dirty rate 180 MiB/s exceeds bandwidth 125 MiB/s and auto-converge is off" in res.reason
    assert "data cap" in res.reason
    assert res.total_mib == pytest.approx(3 * 4096)


def test_non_convergent_stops_at_round_cap_when_data_cap_is_loose():
    res = simulate_migration(MigrationConfig(4096, 125, 180, max_total_factor=1000))
    assert res.converged_by == "round_cap"
    assert len(res.rounds) == 30
    assert "round cap (30 rounds)" in res.reason and res.outcome == "failed"


def test_slow_convergence_hits_round_cap_with_close_rate_message():
    res = simulate_migration(MigrationConfig(65536, 1000, 990, max_total_factor=1000))
    assert res.converged_by == "round_cap"
    assert "is 99 % of bandwidth" in res.reason


def test_force_at_cap_stops_and_copies_with_downtime_over_limit():
    res = simulate_migration(MigrationConfig(4096, 125, 180, on_cap="force"))
    assert res.outcome == "completed" and res.guest_location == "destination"
    assert res.converged_by == "data_cap"
    assert res.rounds[-1].stop_and_copy
    assert res.downtime_ms > 300
    assert "exceeds the 300 ms limit" in res.reason


@pytest.mark.parametrize("model", ["uniform", "wws"])
def test_auto_converge_throttles_in_steps_and_converges(model):
    res = simulate_migration(MigrationConfig(4096, 125, 180, dirty_model=model, auto_converge=True))
    assert res.outcome == "completed"
    assert res.converged_by == "auto_converge"
    steps = [pct for _, pct in res.throttle_history]
    assert steps[0] == 20
    assert all(b - a == 10 for a, b in zip(steps, steps[1:], strict=False))
    assert res.downtime_ms <= 300
    assert f"throttled the guest to {steps[-1]:g} %" in res.reason
    # throttle shown per round never decreases
    pcts = [r.throttle_pct for r in res.rounds]
    assert pcts == sorted(pcts)


def test_auto_converge_caps_throttle_at_99_percent():
    res = simulate_migration(MigrationConfig(1024, 100, 5000, auto_converge=True))
    steps = [pct for _, pct in res.throttle_history]
    assert steps[-1] == 99 and max(steps) == 99
    assert steps[-2] == 90
    assert res.converged_by == "auto_converge"


def test_same_inputs_and_seed_give_identical_results():
    cfg = MigrationConfig(8192, 1250, 300, dirty_model="wws", seed=7)
    assert simulate_migration(cfg) == simulate_migration(cfg)
    assert simulate_migration(cfg).to_dict() == simulate_migration(cfg).to_dict()


def test_different_seeds_change_wws_rounds():
    a = simulate_migration(MigrationConfig(8192, 1250, 300, dirty_model="wws", seed=1))
    b = simulate_migration(MigrationConfig(8192, 1250, 300, dirty_model="wws", seed=2))
    assert a.rounds[0].dirty_pages != b.rounds[0].dirty_pages


def test_stepwise_run_equals_simulate_and_refuses_extra_steps():
    cfg = MigrationConfig(4096, 1250, 200, dirty_model="wws", seed=3)
    run = MigrationRun(cfg)
    with pytest.raises(RuntimeError):
        run.result()
    records = []
    while not run.done:
        records.append(run.step())
    assert run.result() == simulate_migration(cfg)
    assert tuple(records) == run.result().rounds
    with pytest.raises(RuntimeError):
        run.step()


def test_round_records_are_consistent():
    res = simulate_migration(MigrationConfig(4096, 1250, 200, dirty_model="wws", seed=5))
    for prev, nxt in zip(res.rounds, res.rounds[1:], strict=False):
        assert nxt.sent_pages == prev.dirty_pages
        assert nxt.start_s == pytest.approx(prev.start_s + prev.duration_s)
    assert res.total_mib == pytest.approx(sum(r.sent_mib for r in res.rounds))
    d = res.to_dict()
    assert {"round", "sent_mib", "duration_s", "dirty_mib"} <= set(d["rounds"][0])


def test_device_state_moves_at_switchover():
    base = simulate_migration(MigrationConfig(4096, 1250, 200))
    extra = simulate_migration(MigrationConfig(4096, 1250, 200, cpu_device_state_mib=12.5))
    assert extra.total_mib == pytest.approx(base.total_mib + 12.5)
    assert extra.downtime_ms == pytest.approx(base.downtime_ms + 10.0)


# -- wws at page granularity ---------------------------------------------------------------


def test_wws_dirty_count_matches_model_expectation():
    n, rate = 1 << 18, 51200.0  # 1 GiB, 200 MiB/s of page writes
    model = WwsDirty(n, rate, 0.1, 0.9, np.random.default_rng(0))
    p_hot, p_cold = model.probabilities(2.0, 0.0)
    expected = model.hot_pages * p_hot + model.cold_pages * p_cold
    counts = [model.dirty(2.0, 0.0) for _ in range(20)]
    sd = (model.hot_pages * p_hot * (1 - p_hot) + model.cold_pages * p_cold * (1 - p_cold)) ** 0.5
    assert abs(np.mean(counts) - expected) < 4 * sd / len(counts) ** 0.5
    assert model.bitmap.sum() == counts[-1]
    hot = model.bitmap[model.hot_start:model.hot_start + model.hot_pages]
    assert hot.mean() == pytest.approx(p_hot, abs=0.02)  # the hot set is where the rewrites land


def test_wws_numpy_and_pure_python_agree():
    n, rate = 1 << 16, 51200.0
    fast = [WwsDirty(n, rate, 0.1, 0.9, np.random.default_rng(s)).dirty(1.0, 0.2) for s in range(10)]
    slow = [PurePythonWws(n, rate, 0.1, 0.9, s).dirty(1.0, 0.2) for s in range(10)]
    assert np.mean(fast) == pytest.approx(np.mean(slow), rel=0.02)


def test_bernoulli_positions_are_sorted_unique_and_in_range():
    rng = np.random.default_rng(1)
    for p in (1e-4, 0.01, 0.2, 0.6):
        pos = bernoulli_positions(rng, 100_000, p)
        assert np.all(np.diff(pos) > 0) and pos.min(initial=0) >= 0 and pos.max(initial=0) < 100_000
        assert len(pos) == pytest.approx(100_000 * p, rel=0.2, abs=20)
    assert len(bernoulli_positions(rng, 10, 0.0)) == 0
    assert len(bernoulli_positions(rng, 10, 1.0)) == 10


def test_64_gib_wws_guest_is_simulated_page_by_page():
    cfg = MigrationConfig(65536, 1250, 200, dirty_model="wws", seed=0)
    run = MigrationRun(cfg)
    while not run.done:
        run.step()
    assert run.model.bitmap.size == 16 * 1024 * 1024
    res = run.result()
    assert res.outcome == "completed"
    assert res.rounds[0].sent_pages == 16 * 1024 * 1024


# -- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, words", [("destination_failure", "destination host failed"),
                                         ("link_failure", "migration link failed")])
def test_fault_at_round_leaves_guest_on_source(kind, words):
    res = simulate_migration(MigrationConfig(4096, 1250, 200, fault=Fault(kind, at_round=1)))
    assert res.outcome == "failed"
    assert res.guest_location == "source"
    assert res.fault_triggered
    assert res.converged_by is None
    assert res.rounds[-1].aborted and res.rounds[-1].round == 1
    assert f"{words} during round 1" in res.reason
    assert res.downtime_ms == 0


def test_fault_during_stop_and_copy_resumes_on_source():
    ok = simulate_migration(MigrationConfig(4096, 1250, 200))
    stop = ok.rounds[-1]
    t = stop.start_s + stop.duration_s / 2
    res = simulate_migration(MigrationConfig(4096, 1250, 200, fault=Fault("link_failure", at_s=t)))
    assert res.outcome == "failed" and res.guest_location == "source"
    assert "during stop-and-copy" in res.reason and "resumed on the source" in res.reason
    assert res.downtime_ms == pytest.approx(stop.duration_s / 2 * 1000)


def test_fault_after_completion_has_no_effect():
    res = simulate_migration(MigrationConfig(4096, 1250, 200, fault=Fault("destination_failure", at_s=1e6)))
    assert res.outcome == "completed" and not res.fault_triggered


def test_fault_validation():
    with pytest.raises(ValueError):
        Fault("meteor", at_round=1)
    with pytest.raises(ValueError):
        Fault("link_failure")


# -- shared bandwidth ----------------------------------------------------------------------


def test_split_link():
    assert split_link(1250, 2) == 625
    assert split_link(1250, 1) == 1250


def test_two_concurrent_migrations_each_take_longer():
    cfg = MigrationConfig(4096, 1250, 100, dirty_model="wws", seed=1)
    alone = simulate_migration(cfg)
    a, b = simulate_concurrent([cfg, MigrationConfig(4096, 1250, 100, dirty_model="wws", seed=2)], 1250)
    assert a.total_s > alone.total_s * 1.5 and b.total_s > alone.total_s * 1.5
    assert a.rounds[0].bandwidth_mibps == pytest.approx(625)


def test_single_migration_on_a_link_equals_the_plain_run():
    cfg = MigrationConfig(4096, 1250, 200, dirty_model="wws", seed=4)
    (shared,) = simulate_concurrent([cfg], 1250)
    plain = simulate_migration(cfg)
    assert shared.total_s == pytest.approx(plain.total_s)
    assert [r.sent_pages for r in shared.rounds] == [r.sent_pages for r in plain.rounds]


def test_config_validation():
    for bad in (dict(memory_mib=0), dict(bandwidth_mibps=0), dict(dirty_model="zipf"), dict(page_size=3000),
                dict(on_cap="maybe")):
        args = dict(memory_mib=1024, bandwidth_mibps=100, dirty_rate_mibps=10) | bad
        with pytest.raises(ValueError):
            MigrationConfig(**args)


# -- persistence between Celery tasks -----------------------------------------------------


def test_config_round_trips_through_json():
    import json

    cfg = MigrationConfig(4096, 1250, 200, dirty_model="wws", seed=9, fault=Fault("link_failure", at_s=1.5))
    assert MigrationConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_replay_rebuilds_the_same_state_so_a_redelivered_step_is_identical():
    cfg = MigrationConfig(8192, 1250, 300, dirty_model="wws", seed=11)
    full = simulate_migration(cfg)
    for k in range(len(full.rounds)):
        run = MigrationRun.replay(cfg, k)
        assert run.step() == full.rounds[k]
    assert MigrationRun.replay(cfg, len(full.rounds)).result() == full
    with pytest.raises(ValueError, match="cannot replay more"):
        MigrationRun.replay(cfg, len(full.rounds) + 1)


def test_replay_with_per_round_bandwidths():
    cfg = MigrationConfig(4096, 1250, 200, dirty_model="wws", seed=2)
    run = MigrationRun(cfg)
    used = [625.0, None]
    for bw in used:
        run.step(bw)
    assert MigrationRun.replay(cfg, used).rounds == run.rounds
    assert run.rounds[0].duration_s == pytest.approx(4096 / 625)
