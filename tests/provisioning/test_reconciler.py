"""The reconciler with explicit `now`: re-drive overdue steps (same seq), fail past the budget."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings

from provisioning.models import Claim, Event, Host, Instance
from provisioning.pipeline import engine
from provisioning.pipeline.instance_steps import INSTANCE_KIND
from provisioning.pipeline.reconciler import RETRY_BUDGET, ReconcileReport, reconcile, reconcile_row, stuck
from provisioning.services import instances as svc
from provisioning.services.claims import ledger_audit
from provisioning.tasks import reconcile as reconcile_task
from tests.factories import instance_factory
from tests.fixtures_domain import drain
from tests.kit import held_in_transaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(host_factory):
    host_factory("h1")
    host_factory("h2")


def overdue(inst: Instance, seconds: float = 1.0):
    inst.refresh_from_db()
    return inst.step_due_at + timedelta(seconds=seconds)


def test_nothing_is_redriven_before_its_deadline(fleet, user, _capture_dispatch):
    (inst,) = instance_factory(user, appliance="debian-12")
    _capture_dispatch.clear()
    report = reconcile(now=inst.step_due_at - timedelta(seconds=1))
    assert (report.redriven, report.failed, _capture_dispatch) == ([], [], [])


def test_an_overdue_step_is_redispatched_with_the_same_sequence_number(
        fleet, user, _capture_dispatch, django_capture_on_commit_callbacks):
    (inst,) = instance_factory(user, appliance="debian-12")
    step, seq = inst.step, inst.step_seq
    _capture_dispatch.clear()
    now = overdue(inst, 30)
    with django_capture_on_commit_callbacks(execute=True):
        report = reconcile(now=now)
    assert report.redriven == [inst.public_id]
    assert _capture_dispatch == [("instance", inst.pk, seq, 0.0)]
    inst.refresh_from_db()
    assert (inst.step, inst.step_seq, inst.step_attempts) == (step, seq, 1)
    assert inst.step_due_at == now + timedelta(seconds=engine.step_grace_s(0.0))  # backs off: not every beat
    assert reconcile(now=now + timedelta(seconds=1)).redriven == []
    event = Event.objects.get(instance=inst, action="instance.redrive")
    assert event.message == "The copy image step was 30 s overdue; re-dispatched it (attempt 1 of 5)"
    assert event.level == "warning" and event.data == {"step": "copy_image", "seq": seq, "attempt": 1}


def test_the_original_and_the_redriven_message_run_the_step_once(fleet, user):
    (inst,) = instance_factory(user, appliance="debian-12")
    seq = inst.step_seq
    reconcile(now=overdue(inst))
    assert engine.step_advance(kind="instance", object_id=inst.pk, seq=seq) == "done"  # whichever comes first
    assert engine.step_advance(kind="instance", object_id=inst.pk, seq=seq) == "stale"  # the other is a no-op
    drain()
    inst.refresh_from_db()
    assert inst.state == "running" and inst.step_attempts == 0
    assert Event.objects.filter(instance=inst, action="instance.copy_image").count() == 1
    assert Event.objects.filter(instance=inst, action="instance.running").count() == 1
    assert ledger_audit() == []


def test_progress_resets_the_attempt_count(fleet, user):
    (inst,) = instance_factory(user, appliance="debian-12")
    reconcile(now=overdue(inst))
    reconcile(now=overdue(inst))
    inst.refresh_from_db()
    assert inst.step_attempts == 2
    engine.step_advance(kind="instance", object_id=inst.pk, seq=inst.step_seq)
    inst.refresh_from_db()
    assert inst.step == "boot" and inst.step_attempts == 0


def test_past_the_budget_the_instance_fails_with_a_reason_and_frees_capacity(fleet, user, _capture_dispatch):
    (inst,) = instance_factory(user, appliance="debian-12")
    seq = inst.step_seq
    for attempt in range(1, RETRY_BUDGET + 1):
        assert reconcile(now=overdue(inst)).redriven == [inst.public_id]
        inst.refresh_from_db()
        assert inst.step_attempts == attempt
    report = reconcile(now=overdue(inst))
    assert report.failed == [inst.public_id] and report.redriven == []
    inst.refresh_from_db()
    assert inst.state == "error" and inst.step == "" and inst.task == ""
    assert inst.state_reason == ("The copy image step did not complete after 5 re-dispatches (its worker or broker "
                                 "message was lost each time); capacity released.")
    assert not Claim.objects.filter(instance=inst).exists()
    assert Host.objects.get(pk=inst.host_id).instances_used == 0
    assert Event.objects.filter(instance=inst, action="instance.error", level="error").exists()
    assert engine.step_advance(kind="instance", object_id=inst.pk, seq=seq) == "stale"  # a late message changes nothing
    assert ledger_audit() == []
    svc.instance_action(user=user, instance=inst, action="terminate")  # an errored instance can be cleaned up
    drain()
    inst.refresh_from_db()
    assert inst.state == "terminated"


def test_the_budget_is_a_setting(fleet, user, settings):
    settings.SKYPORT_RECONCILE_RETRY_BUDGET = 1
    (inst,) = instance_factory(user, appliance="debian-12")
    assert reconcile(now=overdue(inst)).redriven == [inst.public_id]
    assert reconcile(now=overdue(inst)).failed == [inst.public_id]


def test_a_stuck_terminate_is_redriven_too(fleet, user):
    (inst,) = instance_factory(user, appliance="debian-12")
    drain()
    svc.instance_action(user=user, instance=inst, action="terminate")
    inst.refresh_from_db()
    assert reconcile(now=overdue(inst)).redriven == [inst.public_id]
    drain()
    inst.refresh_from_db()
    assert inst.state == "terminated" and ledger_audit() == []


def test_an_instance_that_advanced_meanwhile_is_left_alone(fleet, user):
    (inst,) = instance_factory(user, appliance="debian-12")
    now = overdue(inst)
    assert stuck(INSTANCE_KIND, now=now) == [inst.pk]
    drain()  # the worker got there first
    assert reconcile_row(kind=INSTANCE_KIND, object_id=inst.pk, now=now, budget=5,
                         report=ReconcileReport(now=now)) == "skipped"


def test_orphaned_claims_are_released(fleet, user):
    (inst,) = instance_factory(user, appliance="debian-12")
    drain()
    Instance.objects.filter(pk=inst.pk).update(state="terminated")  # as if a bug had skipped the release
    assert ledger_audit() != []
    report = reconcile()
    assert report.orphan_claims_released == [inst.public_id]
    assert ledger_audit() == []
    assert Event.objects.get(action="claim.orphan_released").message.startswith("Released a instance claim")


def test_the_beat_task_runs_the_reconciler(fleet, user, _capture_dispatch, django_capture_on_commit_callbacks):
    schedule = django_settings.CELERY_BEAT_SCHEDULE
    assert any(entry["task"] == "provisioning.reconcile" and entry["schedule"] <= 60 for entry in schedule.values())
    (inst,) = instance_factory(user, appliance="debian-12")
    Instance.objects.filter(pk=inst.pk).update(step_due_at=inst.step_due_at - timedelta(hours=1))
    _capture_dispatch.clear()
    with django_capture_on_commit_callbacks(execute=True):
        result = reconcile_task.apply().get()
    assert result["redriven"] == [inst.public_id]
    assert _capture_dispatch == [("instance", inst.pk, inst.step_seq, 0.0)]


@pytest.mark.postgres
def test_rows_a_worker_holds_are_skipped_not_waited_for(transactional_db, host_factory, user):
    host_factory("h1")
    (inst,) = instance_factory(user, appliance="debian-12")
    now = overdue(inst)
    with held_in_transaction(lambda: Instance.objects.select_for_update().get(pk=inst.pk)):  # a worker's step
        assert reconcile(now=now).redriven == []
    assert reconcile(now=now).redriven == [inst.public_id]
