"""A real Celery worker on a real Redis broker drives requests from pending to running and back."""
from __future__ import annotations

import pytest

from provisioning.models import Claim, Instance
from provisioning.services import instances as svc
from provisioning.services.claims import ledger_audit
from tests.factories import instance_factory, reservation_factory
from tests.fixtures_runtime import wait_for

pytestmark = [pytest.mark.celery]


def _state(pk: int) -> tuple[str, str]:
    inst = Instance.objects.get(pk=pk)
    return inst.state, inst.step


def test_worker_takes_a_request_from_pending_to_running(celery_worker, catalog, user):
    reservation = reservation_factory(user, 2)
    pks = list(reservation.instances.values_list("pk", flat=True))
    assert {Instance.objects.get(pk=pk).state for pk in pks} == {"pending"}
    wait_for(lambda: all(_state(pk) == ("running", "") for pk in pks), timeout=90,
             message="instances never reached running")
    for pk in pks:
        inst = Instance.objects.get(pk=pk)
        assert inst.launched_at is not None
        assert f"Set hostname to {inst.hostname}" in inst.console_log
        assert list(inst.events.filter(action="instance.running").values_list("action", flat=True)) == \
            ["instance.running"]
    assert ledger_audit() == []


def test_worker_terminates_and_releases_capacity(celery_worker, catalog, user):
    (inst,) = instance_factory(user, appliance="debian-12", instance_type="t3.micro")
    wait_for(lambda: _state(inst.pk) == ("running", ""), timeout=90)
    svc.instance_action(user=user, instance=inst, action="terminate")
    wait_for(lambda: _state(inst.pk) == ("terminated", ""), timeout=90)
    assert not Claim.objects.filter(instance=inst).exists()
    inst.refresh_from_db()
    assert inst.host.instances_used == 0
    assert ledger_audit() == []


def test_worker_drives_a_second_step_kind_on_the_same_task(celery_worker, catalog, user):
    """The test-only "chore" kind (tests/provisioning/chore_kind.py) runs on `provisioning.advance`."""
    from tests.provisioning.chore_kind import chore_start

    (inst,) = instance_factory(user, appliance="debian-12", instance_type="t3.micro")
    wait_for(lambda: _state(inst.pk) == ("running", ""), timeout=90)
    chore_start(inst)
    wait_for(lambda: inst.events.filter(action="chore.done").exists(), timeout=90, message="the chore to finish")
    assert _state(inst.pk) == ("running", "")
    assert list(inst.events.filter(action__startswith="chore.").order_by("id").values_list("action", flat=True)) \
        == ["chore.tick", "chore.done"]
