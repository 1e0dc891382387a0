"""The step-wise migration API a Celery pipeline drives: one round per task, JSON state between rounds,
per-round bandwidth, faults, abort, force-complete, and the progress an operator reads."""

import json

import pytest

from hypervisor_sim import Fault, GuestSpec, HostSpec, MigrationConfig, MigrationRun, simulate_migration, split_link
from hypervisor_sim.migration import STATE_VERSION, UniformDirty
from hypervisor_sim.spec import PROFILES

MIB = 1 << 20


def saved(run: MigrationRun) -> MigrationRun:
    """What a task does between rounds: save as JSON text, load it back."""
    return MigrationRun.from_state(json.loads(json.dumps(run.to_state())))


def drive(cfg: MigrationConfig, bandwidths) -> tuple[MigrationRun, list]:
    """A pipeline in miniature: every round is a new task that loads the state, steps once and saves."""
    state, snapshots = MigrationRun(cfg).to_state(), []
    for bw in bandwidths:
        run = MigrationRun.from_state(json.loads(json.dumps(state)))
        if run.done:
            break
        run.step(bw)
        snapshots.append(run.progress())
        state = run.to_state()
    return MigrationRun.from_state(state), snapshots


# -- state between tasks -------------------------------------------------------------------


@pytest.mark.parametrize("model", ["uniform", "wws"])
def test_saving_after_every_round_changes_nothing(model):
    cfg = MigrationConfig(8192, 1250, 300, dirty_model=model, seed=11, auto_converge=True)
    run, _ = drive(cfg, [None] * 100)
    assert run.result() == simulate_migration(cfg)


def test_a_redelivered_round_is_computed_identically():
    cfg = MigrationConfig(4096, 1250, 200, dirty_model="wws", seed=5)
    run = MigrationRun(cfg)
    run.step()
    state = json.dumps(run.to_state())
    first = MigrationRun.from_state(json.loads(state)).step()
    again = MigrationRun.from_state(json.loads(state)).step()
    assert first == again == run.step()


def test_state_with_per_round_bandwidths_matches_replay():
    cfg = MigrationConfig(4096, 1250, 200, dirty_model="wws", seed=2)
    used = [split_link(1250, k) for k in (3, 2, 2, 1, 1, 1, 1, 1)]
    run, _ = drive(cfg, used)
    assert run.rounds == MigrationRun.replay(cfg, used[:len(run.rounds)]).rounds


def test_state_is_plain_json_without_the_page_bitmap():
    run = MigrationRun(MigrationConfig(65536, 1250, 200, dirty_model="wws"))
    run.step()
    text = json.dumps(run.to_state())
    assert len(text) < 4000  # a 16.7 M page guest: its bitmap is scratch space, not state
    assert json.loads(text)["v"] == STATE_VERSION


def test_from_state_refuses_an_unknown_version():
    state = MigrationRun(MigrationConfig(1024, 1250, 10)).to_state() | {"v": 99}
    with pytest.raises(ValueError, match="unknown migration state version 99"):
        MigrationRun.from_state(state)


def test_a_custom_dirty_model_without_state_cannot_be_saved():
    class Counter:
        def dirty(self, duration_s, throttle):
            return 0

    with pytest.raises(TypeError, match="cannot be saved"):
        MigrationRun(MigrationConfig(1024, 1250, 10), dirty_model=Counter()).to_state()
    assert MigrationRun(MigrationConfig(1024, 1250, 10), dirty_model=UniformDirty(1, 1.0)).to_state()["model"] == {}


# -- bandwidth per round -------------------------------------------------------------------


def test_a_shared_link_slows_a_round_to_its_share():
    cfg = MigrationConfig(4096, 1250, 100)
    run = MigrationRun(cfg)
    rec = run.step(split_link(1250, 4))
    assert rec.bandwidth_mibps == 312.5
    assert rec.duration_s == pytest.approx(4096 / 312.5)
    assert run.progress().transfer_rate_mibps == 312.5


def test_more_bandwidth_turns_the_next_round_into_the_stop_and_copy():
    cfg = MigrationConfig(4096, 1250, 100, downtime_limit_ms=100)
    run = MigrationRun(cfg)
    run.step(625)
    run.step(625)  # 104.9 MiB dirty: over 62.5 MiB (100 ms at 625 MiB/s), under 125 MiB (at 1250)
    assert not run.in_stop_and_copy
    last = run.step(1250)
    assert last.stop_and_copy and run.result().completed
    assert run.result().downtime_ms == pytest.approx(last.sent_mib / 1250 * 1000)


def test_less_bandwidth_sends_the_planned_stop_and_copy_back_to_pre_copy():
    cfg = MigrationConfig(4096, 1250, 200)
    run = MigrationRun(cfg)
    run.step()
    run.step()
    assert run.in_stop_and_copy  # 105 MiB fits 300 ms at 1250 MiB/s ...
    rec = run.step(split_link(1250, 4))  # ... but not at 312.5 MiB/s: one more pre-copy round instead
    assert not rec.stop_and_copy and not run.done
    run.step()
    assert run.result().completed and run.result().downtime_ms <= 300


@pytest.mark.parametrize("bandwidths", [[None] * 5, [625, 625, 1250], [1250, 1250, 312.5, 1250, 1250]])
def test_the_next_rounds_duration_is_known_before_it_runs(bandwidths):
    run = MigrationRun(MigrationConfig(4096, 1250, 100, downtime_limit_ms=100, cpu_device_state_mib=20))
    for bw in bandwidths:
        if run.done:
            break
        expected = run.next_round_s(bw)
        assert run.step(bw).duration_s == pytest.approx(expected)
    assert run.done


# -- faults, abort, timeout ----------------------------------------------------------------


def test_destination_failure_in_round_n_ends_the_run_failed_with_a_reason():
    cfg = MigrationConfig(8192, 1250, 400, fault=Fault("destination_failure", at_round=2))
    run, snapshots = drive(cfg, [None] * 10)
    res = run.result()
    assert len(res.rounds) == 3 and res.rounds[-1].aborted
    assert res.outcome == "failed" and res.guest_location == "source"
    assert "destination host failed during round 2" in res.reason
    last = snapshots[-1]
    assert last.phase == "failed" and not last.converging and last.eta_s is None and last.note == res.reason


def test_abort_between_rounds_is_a_clean_cancelled_record():
    run = MigrationRun(MigrationConfig(4096, 1250, 200, dirty_model="wws"))
    run.step()
    run = saved(run)
    res = run.abort()
    assert res.outcome == "cancelled" and res.guest_location == "source" and res.downtime_ms == 0
    assert res.reason == "aborted by the operator after 1 round; guest keeps running on the source"
    assert len(res.rounds) == 1 and res.converged_by is None
    assert saved(run).result() == res
    for again in (run.step, run.abort, run.force_stop_and_copy, run.force_converge):
        with pytest.raises(RuntimeError, match="already"):
            again()


def test_fail_records_the_callers_cause():
    run = MigrationRun(MigrationConfig(4096, 1250, 200))
    res = run.fail("no progress for 150 s")
    assert res.outcome == "failed" and res.reason.startswith("no progress for 150 s after 0 rounds")


@pytest.mark.parametrize("on_cap, outcome", [("abort", "failed"), ("force", "completed")])
def test_completion_timeout_is_a_cap_that_names_the_cause(on_cap, outcome):
    cfg = MigrationConfig(4096, 125, 180, max_total_factor=1000, completion_timeout_s=200, on_cap=on_cap)
    res = simulate_migration(cfg)
    assert res.converged_by == "timeout" and res.outcome == outcome
    assert "the completion timeout (200 s;" in res.reason
    if outcome == "failed":
        assert "dirty rate 180 MiB/s exceeds bandwidth 125 MiB/s" in res.reason
    with pytest.raises(ValueError):
        MigrationConfig(4096, 125, 180, completion_timeout_s=-1)


# -- force-complete ------------------------------------------------------------------------


def test_stop_and_copy_now_costs_the_downtime_predicted_before_it_was_applied():
    cfg = MigrationConfig(4096, 125, 180, cpu_device_state_mib=25, resume_ms=40)
    run = MigrationRun(cfg)
    run.step()
    pending_mib = run.progress().memory_remaining_bytes / MIB
    predicted = run.predict_downtime_ms()
    assert predicted == pytest.approx((pending_mib + 25) / 125 * 1000 + 40)
    assert run.progress().stop_and_copy_downtime_ms == predicted
    assert run.force_stop_and_copy() == predicted
    run = saved(run)
    last = run.step()
    res = run.result()
    assert last.stop_and_copy and res.outcome == "completed" and res.converged_by == "forced"
    assert res.downtime_ms == pytest.approx(predicted)
    assert f"stop-and-copy forced by the operator after 1 pre-copy rounds: downtime {predicted:.0f} ms, over " \
           "the 300 ms limit" == res.reason


def test_a_forced_stop_and_copy_at_another_bandwidth_costs_what_was_predicted_for_it():
    run = MigrationRun(MigrationConfig(4096, 1250, 180))
    run.step()
    predicted = run.predict_downtime_ms(split_link(1250, 2))
    run.force_stop_and_copy()
    run.step(split_link(1250, 2))  # a forced stop-and-copy is not re-planned by the slower link
    assert run.result().downtime_ms == pytest.approx(predicted)


def test_auto_converge_now_throttles_from_the_next_round_and_rescues_the_run():
    cfg = MigrationConfig(4096, 125, 180)
    assert simulate_migration(cfg).outcome == "failed"
    run = MigrationRun(cfg)
    run.step()
    assert run.force_converge() == 20
    run = saved(run)
    assert run.step().throttle_pct == 20
    while not run.done:
        run.step()
    res = run.result()
    assert res.outcome == "completed" and res.converged_by == "auto_converge"
    assert res.throttle_history[0] == (0, 20)
    assert "auto-converge (started by the operator) throttled the guest" in res.reason
    assert res.downtime_ms <= 300


# -- progress ------------------------------------------------------------------------------


def test_progress_has_novas_byte_fields_and_an_eta_that_matches_the_run():
    cfg = MigrationConfig(4096, 1250, 200)
    total = simulate_migration(cfg).total_s
    run = MigrationRun(cfg)
    first = run.progress()
    assert (first.memory_total_bytes, first.memory_processed_bytes, first.memory_remaining_bytes) == \
        (4096 * MIB, 0, 4096 * MIB)
    assert first.converging and first.eta_s == pytest.approx(total, rel=0.01)
    processed = []
    while not run.done:
        run.step()
        p = run.progress()
        processed.append(p.memory_processed_bytes)
        assert p.memory_remaining_bytes == (0 if run.done else run.next_volume_mib() * MIB)
        assert p.eta_s == pytest.approx(total - p.elapsed_s, rel=0.01, abs=1e-6)
    assert processed[0] == 4096 * MIB and processed == sorted(processed)
    assert p.phase == "completed" and p.converging and p.eta_s == 0 and p.stop_and_copy_downtime_ms is None
    assert json.loads(json.dumps(p.to_dict()))["memory_total_bytes"] == 4096 * MIB


def test_a_guest_dirtying_faster_than_the_link_is_plainly_not_converging():
    cfg = MigrationConfig(4096, 125, 180, dirty_model="uniform")
    run, snapshots = drive(cfg, [None] * 100)
    assert all(not s.converging and s.eta_s is None for s in snapshots)
    assert "not converging: dirty rate 180 MiB/s exceeds bandwidth 125 MiB/s; auto-converge is off" == \
        snapshots[0].note
    processed = [s.memory_processed_bytes for s in snapshots]
    assert processed == sorted(processed)  # the one "how far" figure never runs backwards
    assert "dirty rate 180 MiB/s exceeds bandwidth 125 MiB/s" in run.result().reason


def test_slow_convergence_that_cannot_finish_within_the_round_cap_says_so():
    run = MigrationRun(MigrationConfig(65536, 1000, 990, max_total_factor=1000))
    run.step()
    p = run.progress()
    assert not p.converging and p.eta_s is None
    assert p.note.startswith("not converging in time: dirty rate 990 MiB/s is 99 % of bandwidth 1000 MiB/s")
    assert "29 left" in p.note


def test_progress_under_auto_converge_names_the_throttle():
    run = MigrationRun(MigrationConfig(4096, 125, 180, auto_converge=True))
    run.step()
    assert run.progress().note.endswith("auto-converge is throttling the guest (now 0 %)")


def test_config_for_a_guest_between_two_hosts():
    guest = GuestSpec(4, 8192, workload=PROFILES["database"])
    cfg = MigrationConfig.for_guest(guest, HostSpec("a", nic_mibps=1250), HostSpec("b", nic_mibps=119),
                                    downtime_limit_ms=500, seed=3)
    assert (cfg.memory_mib, cfg.bandwidth_mibps, cfg.dirty_model) == (8192, 119, "wws")
    assert (cfg.dirty_rate_mibps, cfg.wws_fraction) == (PROFILES["database"].dirty_rate_mibps,
                                                        PROFILES["database"].wws_fraction)
    assert (cfg.downtime_limit_ms, cfg.seed) == (500, 3)
