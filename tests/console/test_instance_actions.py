"""Staff actions on any tenant's instance: confirmed first, one service call, refusals as messages."""
from __future__ import annotations

import pytest

from provisioning.models import Event, Instance
from provisioning.services.claims import ledger_audit
from tests.factories import running_instance_factory

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(catalog, user) -> Instance:
    return running_instance_factory(user, name="web-1")


def test_terminate_asks_first_then_terminates(staff, running, run_pipeline):
    url = f"/console/instances/{running.public_id}/actions/terminate/"
    ask = staff.post(url)
    body = ask.content.decode()
    assert ask.status_code == 200 and "Terminate" in body and "cannot be undone" in body and "alice" in body
    assert Instance.objects.get(pk=running.pk).state == "running"  # nothing happened yet
    done = staff.post(url, {"confirm": "yes"}, follow=True)
    assert "Terminate requested" in done.content.decode()
    run_pipeline()
    assert Instance.objects.get(pk=running.pk).state == "terminated"
    assert Event.objects.filter(instance=running, action="instance.terminate", actor="root").exists()
    assert ledger_audit() == []


def test_a_refused_action_is_a_message_not_a_500(staff, running, run_pipeline):
    url = f"/console/instances/{running.public_id}/actions/stop/"
    staff.post(url, {"confirm": "yes"})
    run_pipeline()
    again = staff.post(url, {"confirm": "yes"}, follow=True)
    assert again.status_code == 200
    assert 'class="alert alert-error"' in again.content.decode()
    assert Instance.objects.get(pk=running.pk).state == "stopped"


def test_instance_actions_are_staff_only(staff, tenant, running):
    url = f"/console/instances/{running.public_id}/actions/terminate/"
    assert tenant.post(url, {"confirm": "yes"}).status_code == 403
    assert staff.get(url).status_code == 405
    assert staff.post(f"/console/instances/{running.public_id}/actions/reboot/").status_code == 404
    assert staff.post("/console/instances/i-0000000000000000/actions/stop/").status_code == 404
    assert Instance.objects.get(pk=running.pk).state == "running"
