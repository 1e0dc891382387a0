"""The step engine is generic: a second kind, registered here (tests/provisioning/chore_kind.py),
is driven by the one `provisioning.advance` task and re-driven and failed by the one reconciler."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from provisioning.models import Claim, Event, Instance
from provisioning.pipeline import engine
from provisioning.pipeline.engine import StepKind, StepOutcome
from provisioning.pipeline.instance_steps import LAUNCH_SEQUENCE, progress, progress_with_title
from provisioning.pipeline.reconciler import RETRY_BUDGET, reconcile
from provisioning.services import instances as svc
from provisioning.services.claims import ledger_audit
from provisioning.services.events import event_build
from provisioning.tasks import advance
from tests.factories import instance_factory, running_instance_factory
from tests.fixtures_domain import drain

from .chore_kind import CHORE_KIND, TICK_S, chore_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(host_factory, user) -> Instance:
    host_factory("h1")
    return running_instance_factory(user, appliance="debian-12")


def test_the_advance_task_drives_a_second_kind(running, _capture_dispatch, django_capture_on_commit_callbacks,
                                               settings):
    settings.SKYPORT_SIM_SPEED = 0.5
    _capture_dispatch.clear()
    with django_capture_on_commit_callbacks(execute=True):
        inst = chore_start(running)
    assert _capture_dispatch == [("chore", inst.pk, inst.step_seq, 0.0)]
    _capture_dispatch.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert advance.apply(args=("chore", inst.pk, inst.step_seq)).get() == "done"
    inst.refresh_from_db()
    assert inst.step == "chore_tock"
    assert _capture_dispatch == [("chore", inst.pk, inst.step_seq, TICK_S * 0.5)]  # simulated time x speed
    assert advance.apply(args=("chore", inst.pk, inst.step_seq - 1)).get() == "stale"
    assert advance.apply(args=("chore", inst.pk, inst.step_seq)).get() == "done"
    assert advance.apply(args=("chore", inst.pk, inst.step_seq)).get() == "stale"  # a redelivery is a no-op
    inst.refresh_from_db()
    assert (inst.state, inst.step) == ("running", "")
    assert list(Event.objects.filter(instance=inst, action__startswith="chore.").values_list("action", flat=True)
                .order_by("id")) == ["chore.tick", "chore.done"]


def test_the_reconciler_redrives_and_fails_a_second_kind_through_its_own_on_fail(
        running, _capture_dispatch, django_capture_on_commit_callbacks):
    inst = chore_start(running)
    seq = inst.step_seq
    for attempt in range(1, RETRY_BUDGET + 1):
        inst.refresh_from_db()
        _capture_dispatch.clear()
        with django_capture_on_commit_callbacks(execute=True):
            report = reconcile(now=inst.step_due_at + timedelta(seconds=1))
        assert report.redriven == [inst.public_id]
        assert _capture_dispatch == [("chore", inst.pk, seq, 0.0)]  # the same kind and sequence number
        inst.refresh_from_db()
        assert inst.step_attempts == attempt
    inst.refresh_from_db()
    report = reconcile(now=inst.step_due_at + timedelta(seconds=1))
    assert report.failed == [inst.public_id]
    inst.refresh_from_db()
    # The chore's on_fail ran, not the instance's: the guest still runs and keeps its claim.
    assert (inst.state, inst.step, inst.state_reason) == ("running", "", "")
    assert Claim.objects.filter(instance=inst).count() == 1
    failed = Event.objects.get(instance=inst, action="chore.failed")
    assert failed.message == ("The chore tick step did not complete after 5 re-dispatches (its worker or broker "
                              "message was lost each time); the instance is left as it was.")
    assert Event.objects.filter(instance=inst, action="chore.redrive").count() == RETRY_BUDGET
    assert not Event.objects.filter(instance=inst, action="instance.error").exists()
    assert ledger_audit() == []


def test_drain_and_the_reconciler_see_every_registered_kind(running):
    assert {"instance", "chore"} <= {kind.name for kind in engine.kinds()}
    chore_start(running)
    assert drain() == 2
    assert Event.objects.filter(instance=running, action="chore.done").count() == 1


def test_a_kind_cannot_take_another_kinds_step_or_name():
    with pytest.raises(ValueError, match="already belong to chore"):
        engine.register_kind(StepKind(name="other", model=Instance, steps={"chore_tick": lambda row: StepOutcome(None)},
                                      on_fail=lambda row, reason: None))
    with pytest.raises(ValueError, match="already registered"):
        engine.register_kind(StepKind(name="chore", model=Instance, steps={}, on_fail=lambda row, reason: None))
    assert engine.register_kind(CHORE_KIND) is CHORE_KIND  # the same object again is fine (re-import)


def test_a_message_for_an_unknown_kind_is_dropped(running):
    assert engine.step_advance(kind="no-such-kind", object_id=running.pk, seq=running.step_seq) == "unknown kind"


def _statuses(inst: Instance) -> list[tuple[str, str]]:
    return [(s["step"], s["status"]) for s in progress(inst)]


def test_progress_follows_the_declared_launch_sequence(host_factory, user):
    host_factory("h1")
    (inst,) = instance_factory(user, appliance="debian-12")
    assert [label for _, label in LAUNCH_SEQUENCE] == [s["label"] for s in progress(inst)]
    assert _statuses(inst) == [("schedule", "current"), ("copy_image", "todo"), ("boot", "todo"),
                               ("configure", "todo"), ("finish_launch", "todo")]
    engine.step_advance(kind="instance", object_id=inst.pk, seq=inst.step_seq)  # the copy is under way
    inst.refresh_from_db()
    assert _statuses(inst)[:3] == [("schedule", "done"), ("copy_image", "current"), ("boot", "todo")]
    drain()
    inst.refresh_from_db()
    assert progress_with_title(inst)[0] == "Launch"
    assert {s["status"] for s in progress(inst)} == {"done"}
    svc.instance_action(user=user, instance=inst, action="stop")
    inst.refresh_from_db()
    assert progress_with_title(inst) == ("Stop", [{"step": "stop_guest", "label": "Powering off", "status": "current"},
                                                  {"step": "finish_stop", "label": "Stopped", "status": "todo"}])


# --------------------------------------------------------------------------- a step's writes
def _probe_note(inst: Instance) -> StepOutcome:
    engine.step_insert(event_build(action="probe.note", instance=inst, message="with the row's save"))
    inst.task = "probing"
    return StepOutcome(None)


def _probe_crash(inst: Instance) -> StepOutcome:
    engine.step_insert(event_build(action="probe.lost", instance=inst, message="never written"))
    raise RuntimeError("a bug in a step")


@pytest.fixture
def probe_kind():
    kind = engine.register_kind(StepKind(name="probe", model=Instance, on_fail=lambda row, reason: None,
                                         steps={"probe_note": _probe_note, "probe_crash": _probe_crash}))
    yield kind
    engine.unregister_kind("probe")


def _probe(inst: Instance, step: str) -> Instance:
    row = Instance.objects.get(pk=inst.pk)
    engine.step_prepare(row, step)
    row.save()
    return row


def test_a_steps_inserts_ride_in_its_rows_update_which_names_only_what_changed(running, probe_kind):
    row = _probe(running, "probe_note")
    sql: list[str] = []

    def spy(execute, query, params, many, context):
        sql.append(query)
        return execute(query, params, many, context)

    with connection.execute_wrapper(spy):
        assert engine.step_advance(kind="probe", object_id=row.pk, seq=row.step_seq) == "done"
    update = [q for q in sql if q.startswith(("UPDATE", "WITH")) and "provisioning_instance" in q]
    assert len(update) == 1 and '"task"' in update[0] and '"console_log"' not in update[0]
    assert ('INSERT INTO "provisioning_event"' in update[0]) == (connection.vendor == "postgresql")
    statements = [q for q in sql if "SAVEPOINT" not in q]  # (the test's transaction makes the step's a savepoint)
    assert len(statements) == (2 if connection.vendor == "postgresql" else 3)  # the lock, [the event,] the update
    row.refresh_from_db()
    assert (row.task, row.step) == ("probing", "")
    assert Event.objects.filter(instance=row, action="probe.note").count() == 1


def test_a_step_that_crashes_writes_nothing_and_outside_a_step_an_insert_is_at_once(running, probe_kind):
    row = _probe(running, "probe_crash")
    with pytest.raises(RuntimeError):
        engine.step_advance(kind="probe", object_id=row.pk, seq=row.step_seq)
    assert not Event.objects.filter(action="probe.lost").exists()
    assert Instance.objects.get(pk=row.pk).step == "probe_crash"  # rolled back: still due
    engine.step_insert(event_build(action="probe.now", instance=row, message="no step runs"))
    assert Event.objects.filter(action="probe.now").count() == 1
