"""A task-queue outage is shown to the user and healed by the reconciler; the reconciler's grace
scales with the simulated step durations (issue 12)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError
from rest_framework.test import APIClient

from provisioning.models import Instance
from provisioning.pipeline import engine
from provisioning.pipeline.reconciler import reconcile
from provisioning.services.launch import instance_launch
from provisioning.tasks import advance
from tests.fixtures_domain import drain

pytestmark = pytest.mark.django_db

REAL_STEP_ENQUEUE = engine.step_enqueue  # the autouse fixture replaces it in each test
NOTE = "queued: the task queue is unreachable; it resumes by itself"


@pytest.fixture
def fleet(host_factory):
    host_factory("h1")


def _launch(user) -> Instance:
    return instance_launch(user=user, appliance="debian-12", instance_type="t3.small").reservation.instances.get()


def test_a_launch_while_the_queue_is_down_says_so_and_resumes_by_itself(
        fleet, user, client, monkeypatch, django_capture_on_commit_callbacks):
    def refused(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(engine, "step_enqueue", REAL_STEP_ENQUEUE)
    monkeypatch.setattr(advance, "apply_async", refused)  # what kombu raises while Redis is down
    with django_capture_on_commit_callbacks(execute=True):
        inst = _launch(user)
    inst.refresh_from_db()
    assert inst.state == "pending" and inst.step and inst.step_unsent_at is not None
    assert inst.step_due_at <= timezone.now()  # due now: the first reconciler pass re-sends it

    api = APIClient()
    api.force_authenticate(user)
    assert api.get(f"/api/v1/instances/{inst.public_id}/").data["note"] == NOTE
    client.force_login(user)
    assert "Queued: the task queue is unreachable; it resumes by itself." in \
        client.get(f"/instances/{inst.public_id}/progress/").content.decode()

    # the queue answers again: the reconciler's next pass re-sends the step, the mark goes
    sent = []
    monkeypatch.setattr(advance, "apply_async", lambda args, **kwargs: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        report = reconcile(now=timezone.now() + timedelta(seconds=1))
    assert report.redriven == [inst.public_id] and sent == [("instance", inst.pk, inst.step_seq)]
    inst.refresh_from_db()
    assert inst.step_unsent_at is None and api.get(f"/api/v1/instances/{inst.public_id}/").data["note"] is None
    drain()
    inst.refresh_from_db()
    assert inst.state == "running"


def test_a_published_step_carries_no_note(fleet, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        inst = _launch(user)
    inst.refresh_from_db()
    assert inst.step and inst.step_unsent_at is None and engine.step_note(inst) == ""


def test_the_grace_scales_with_the_simulated_duration(settings):
    settings.SKYPORT_STEP_GRACE_S = 15
    assert engine.step_grace_s(0) == 15  # SKYPORT_SIM_SPEED=0: a lost step is re-sent after 15 s, not 60
    assert engine.step_grace_s(30) == 30  # a 30 s countdown: 15 s plus half of it
    assert engine.step_grace_s(600) == 315


def test_a_lost_step_at_full_speed_is_resent_after_the_scaled_grace(fleet, user, settings, _capture_dispatch):
    settings.SKYPORT_SIM_SPEED = 0
    inst = _launch(user)
    inst.refresh_from_db()
    _capture_dispatch.clear()  # the message is lost
    launched = timezone.now()
    assert reconcile(now=launched + timedelta(seconds=10)).redriven == []
    assert reconcile(now=launched + timedelta(seconds=20)).redriven == [inst.public_id]


def test_a_slow_simulation_gets_a_longer_grace(fleet, user, settings, _capture_dispatch,
                                               django_capture_on_commit_callbacks):
    """The copy step's simulated duration, scaled by SKYPORT_SIM_SPEED, sets the next deadline."""
    settings.SKYPORT_SIM_SPEED = 2.0
    inst = _launch(user)
    _capture_dispatch.clear()
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        engine.step_advance(kind="instance", object_id=inst.pk, seq=_seq(inst))  # copy_image; schedules boot
    after = timezone.now()
    (_kind, _pk, _seq_sent, countdown), = _capture_dispatch
    assert countdown > 0
    inst.refresh_from_db()
    grace = settings.SKYPORT_STEP_GRACE_S + countdown / 2
    assert before + timedelta(seconds=countdown + grace) <= inst.step_due_at <= \
        after + timedelta(seconds=countdown + grace)


def _seq(inst: Instance) -> int:
    inst.refresh_from_db()
    return inst.step_seq
