"""The live-migration kind on the step engine: admit, prepare, then one pre-copy round per step.

`admit` waits in `queued` for a slot on both hosts' links (it re-checks at an interval, and is woken
at once when a migration on those hosts ends). `prepare` sets up the destination and builds the
simulator's run. `precopy` waits the round's simulated duration (its countdown), then runs the
round through `driver.py` and records it; the last round is the stop-and-copy, and the switch-over
happens in that same transaction. A step that cannot go on raises StepFailed: the kind's `on_fail`
(`services.migrations.migration_end`) leaves the guest on the source and releases the destination.
"""
from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from .. import driver
from ..choices import MigrationStatus
from ..exceptions import InvalidState
from ..models import Migration, MigrationRound
from ..services import migration_rounds as rounds
from ..services import migrations as svc
from ..services.events import event_build, event_record
from .engine import StepFailed, StepKind, StepOutcome, register_kind, step_insert


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def _check(mig: Migration, *related: str) -> None:
    """The instance and the destination must still be fit for the move. The engine locked the instance
    with the migration (the kind's `lock_of`); prepare reads its appliance and type too."""
    inst = svc.instance_lock(mig, *related) if related else svc.instance_placed(mig, mig.instance)
    problem = svc.instance_problem(mig, inst)
    if problem:
        raise StepFailed(problem)
    if not mig.dest_host.is_up:
        raise StepFailed(f"the destination {mig.dest_host.name} went down")


def step_admit(mig: Migration) -> StepOutcome:
    _check(mig)
    wait = rounds.admission_wait(mig)
    if wait:
        if mig.status != MigrationStatus.QUEUED:
            mig.status, mig.queued_at = MigrationStatus.QUEUED, timezone.now()
            step_insert(event_build(action="migration.queued", instance=mig.instance,
                                    message=f"{mig.public_id} is {wait}", data={"migration": mig.public_id}))
        mig.reason = wait
        return StepOutcome("admit", _setting("SKYPORT_MIGRATION_QUEUE_POLL_S", 10.0),
                           wait_s=_setting("SKYPORT_MIGRATION_QUEUE_POLL_WAIT_S", 2.0))
    mig.status, mig.preparing_at, mig.reason = MigrationStatus.PREPARING, timezone.now(), ""
    step_insert(event_build(
        action="migration.preparing", instance=mig.instance,
        message=f"Preparing {mig.dest_host.name} for {mig.public_id}: a paused guest and its switch port",
        data={"migration": mig.public_id}))
    return StepOutcome("prepare", _setting("SKYPORT_MIGRATION_PREPARE_S", 2.0))


def step_prepare(mig: Migration) -> StepOutcome:
    _check(mig, "appliance", "instance_type")
    inst = mig.instance
    state = driver.migration_new(inst, mig.source_host, mig.dest_host, downtime_limit_ms=mig.downtime_limit_ms,
                                 auto_converge=mig.auto_converge, completion_timeout_s=mig.completion_timeout_s,
                                 fault=mig.sim_state.get("fault"))
    bandwidth = rounds.round_bandwidth(mig)
    mig.sim_state, mig.next_bandwidth_mibps = state, bandwidth
    rounds.progress_apply(mig, driver.migration_progress(state, bandwidth))
    mig.status, mig.running_at = MigrationStatus.RUNNING, timezone.now()
    step_insert(event_build(
        action="migration.running", instance=inst,
        message=f"Pre-copy of {mig.public_id} to {mig.dest_host.name} started at {bandwidth:.0f} MiB/s",
        data={"migration": mig.public_id, "bandwidth_mibps": bandwidth}))
    return StepOutcome("precopy", driver.migration_next_round_s(state, bandwidth))


def step_precopy(mig: Migration) -> StepOutcome:
    """One round: it was planned at `next_bandwidth_mibps` and its duration has just passed."""
    _check(mig)
    state, record, progress, outcome = driver.migration_round(mig.sim_state, mig.next_bandwidth_mibps)
    mig.sim_state = state
    # The round, the run's state and the step's sequence commit together (in one statement, with the
    # row's save), so a round is never run (or recorded) twice.
    step_insert(MigrationRound(
        migration=mig, round=record["round"], sent_mib=record["sent_mib"], dirty_mib=record["dirty_mib"],
        dirty_rate_mibps=record["dirty_rate_mibps"], remaining_mib=record["remaining_mib"],
        transfer_rate_mibps=record["bandwidth_mibps"], duration_s=record["duration_s"],
        throttle_pct=record["throttle_pct"], stop_and_copy=record["stop_and_copy"], aborted=record["aborted"]))
    rounds.progress_apply(mig, progress)
    if outcome is not None:
        if outcome["outcome"] != "completed":
            raise StepFailed(outcome["reason"])
        try:
            svc.migration_complete(mig, mig.instance, outcome)
        except InvalidState as exc:
            raise StepFailed(f"the switch-over failed ({exc.message}); the guest was resumed on the source") \
                from exc
        return StepOutcome(None)
    stalled = rounds.no_progress_reason(mig)
    if stalled:
        raise StepFailed(stalled)
    bandwidth = rounds.round_bandwidth(mig)
    mig.next_bandwidth_mibps = bandwidth
    return StepOutcome("precopy", driver.migration_next_round_s(state, bandwidth))


def migration_fail(mig: Migration, reason: str) -> None:
    svc.migration_end(mig, reason)


def _redrive(mig: Migration, message: str, data: dict) -> None:
    event_record(action="migration.redrive", instance=mig.instance, level="warning",
                 message=f"{mig.public_id}: {message}", data={"migration": mig.public_id, **data})


MIGRATION_KIND = register_kind(StepKind(
    name="migration", model=Migration,
    steps={"admit": step_admit, "prepare": step_prepare, "precopy": step_precopy},
    on_fail=migration_fail, select_related=("source_host", "dest_host", "instance"), lock_of=("self", "instance"),
    annotate=rounds.links_annotate, on_redrive=_redrive,
    stuck_note="; the guest stays on the source and the destination's claim is released",
))


# --------------------------------------------------------------------------- progress, as pages show it
MIGRATION_SEQUENCE = (("admit", "Waiting for a slot"), ("prepare", "Preparing the destination"),
                      ("precopy", "Copying memory"), ("switchover", "Switched over"))
_STAGE_OF_STATUS = {MigrationStatus.ACCEPTED: "admit", MigrationStatus.QUEUED: "admit",
                    MigrationStatus.PREPARING: "prepare", MigrationStatus.RUNNING: "precopy"}


def progress(mig: Migration) -> list[dict]:
    """Each stage of a migration: done, current, todo, or failed where an unfinished one ended
    (the same shape as `instance_steps.progress`). Pages render it; the round detail is in `rounds`."""
    keys = [key for key, _ in MIGRATION_SEQUENCE]
    if mig.status == MigrationStatus.COMPLETED:
        index, failed = len(keys), False
    elif mig.status in _STAGE_OF_STATUS:
        index, failed = keys.index(_STAGE_OF_STATUS[mig.status]), False
    else:  # ended early: where it stopped
        index = keys.index("precopy") if mig.running_at else keys.index("prepare") if mig.preparing_at else 0
        failed = True
    return [{"step": key, "label": label,
             "status": "done" if i < index else ("failed" if failed else "current") if i == index else "todo"}
            for i, (key, label) in enumerate(MIGRATION_SEQUENCE)]
