"""Fault tests with a REAL worker: SIGKILL it mid-pipeline, flush its broker; the reconciler heals.

Each request must end `running` exactly once (one `instance.running` event, one claim) or `error`
with a reason, and the capacity ledger must stay exact. The worker runs at SKYPORT_SIM_SPEED 0.05,
so steps wait on countdowns (the worker holds them as reserved messages) and a kill or a flush
lands mid-pipeline. Time is never asserted on: waits are bounded by `wait_for`, and the
reconciler is called with an explicit `now` one grace period ahead (as beat would run it later).
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from provisioning.models import Claim, Event, Instance
from provisioning.pipeline import engine
from provisioning.pipeline.reconciler import reconcile
from provisioning.services.claims import ledger_audit
from tests.factories import instance_factory
from tests.fixtures_runtime import wait_for

pytestmark = [pytest.mark.celery]

MID_PIPELINE = ("boot", "configure", "finish_launch")


@pytest.fixture
def fleet(host_factory):
    for i in range(3):
        host_factory(f"ft-{i}", az="sky-1a")


def settled(pks: list[int]) -> bool:
    return not Instance.objects.filter(pk__in=pks).exclude(step="").exists()


def later():
    """A moment past every current step's deadline (countdowns here are a few seconds at most)."""
    return timezone.now() + timedelta(seconds=30 + engine.step_grace_s(30))


def heal(pks: list[int], timeout: float = 120) -> None:
    """Run the reconciler (as beat would, a grace period later) until every request has settled."""
    def done() -> bool:
        if settled(pks):
            return True
        reconcile(now=later())
        return False

    wait_for(done, timeout=timeout, interval=0.5, message="instances to settle under the reconciler")


def assert_each_running_exactly_once_or_error(pks: list[int]) -> None:
    for inst in Instance.objects.filter(pk__in=pks):
        if inst.state == "error":
            assert inst.state_reason, f"{inst.public_id} is in error without a reason"
            assert not Claim.objects.filter(instance=inst).exists()
            continue
        assert inst.state == "running", (inst.public_id, inst.state, inst.step)
        assert inst.launched_at is not None and inst.task == ""
        assert Event.objects.filter(instance=inst, action="instance.running").count() == 1
        assert Claim.objects.filter(instance=inst).count() == 1
    assert ledger_audit() == []


def test_sigkill_mid_pipeline_reconciler_redrives_lost_steps(sim_worker, fleet, user):
    pks = [inst.pk for inst in instance_factory(user, 4, appliance="debian-12")]
    wait_for(lambda: Instance.objects.filter(pk__in=pks, step__in=MID_PIPELINE).exists(), timeout=90,
             message="a launch to be mid-pipeline")
    sim_worker.kill()
    assert not settled(pks), "the kill must land mid-pipeline"
    sim_worker.start()  # a fresh worker; the dead one's reserved messages are lost (not redelivered)
    heal(pks)
    assert_each_running_exactly_once_or_error(pks)
    assert Event.objects.filter(instance_id__in=pks, action="instance.redrive").exists()


def test_sigkill_with_redelivery_and_reconciler_runs_each_step_once(sim_worker, fleet, user):
    """The broker hands the dead worker's messages back AND the reconciler re-sends them:
    duplicates carry the same step sequence number, so each step still runs once."""
    pks = [inst.pk for inst in instance_factory(user, 4, appliance="debian-12")]
    wait_for(lambda: Instance.objects.filter(pk__in=pks, step__in=MID_PIPELINE).exists(), timeout=90,
             message="a launch to be mid-pipeline")
    sim_worker.kill()
    assert not settled(pks)
    sim_worker.restore_unacked()
    reconcile(now=later())  # duplicates of whatever was redelivered
    sim_worker.start()
    heal(pks)
    assert_each_running_exactly_once_or_error(pks)
    for pk in pks:
        for action in ("instance.copy_image", "instance.boot", "instance.configure"):
            assert Event.objects.filter(instance_id=pk, action=action).count() == 1, (pk, action)


def test_broker_flush_mid_pipeline_reconciler_redrives(sim_worker, fleet, user):
    pks = [inst.pk for inst in instance_factory(user, 4, appliance="debian-12")]
    wait_for(lambda: Instance.objects.filter(pk__in=pks, step__in=MID_PIPELINE).exists(), timeout=90,
             message="a launch to be mid-pipeline")
    sim_worker.flush()
    assert sim_worker.queued() == 0  # the broker holds nothing any more
    heal(pks)
    assert_each_running_exactly_once_or_error(pks)
    assert all(s == "running" for s in Instance.objects.filter(pk__in=pks).values_list("state", flat=True))
    # The worker forgot its reserved messages with the connection: only the reconciler moved them on.
    assert Event.objects.filter(instance_id__in=pks, action="instance.redrive").exists()
