"""The admin's host form: settings that would put a host's limits under what its instances claim
are refused with a message (the CHECK constraints would otherwise make the save a 500)."""
from __future__ import annotations

import pytest
from django.forms.models import model_to_dict

from provisioning.models import Event, Host
from provisioning.services.claims import ledger_audit
from tests.factories import instance_factory

pytestmark = pytest.mark.django_db


def _post(client, host: Host, **changes):
    data = {k: v for k, v in model_to_dict(host).items() if v is not None}
    data["cpu_features"] = '["' + '", "'.join(host.cpu_features) + '"]'
    data["supported_modes"] = '["' + '", "'.join(host.supported_modes) + '"]'
    data["cached_appliances"] = [a.pk for a in host.cached_appliances.all()]
    data.update(changes)
    return client.post(f"/admin/provisioning/host/{host.pk}/change/", data)


@pytest.fixture
def busy_host(catalog, user):
    instance_factory(user, 3, min_count=1, availability_zone="sky-1a")
    return Host.objects.filter(instances_used__gt=0).order_by("-instances_used").first()


@pytest.mark.parametrize("changes, field, words", [
    ({"memory_mib": 1024}, "memory_mib", "MiB of schedulable memory, but instances on"),
    ({"max_instances": 0}, "max_instances", "runs"),
    ({"cpu_allocation_ratio": -2}, "cpu_allocation_ratio", "Must be greater than 0"),
    ({"cpu_allocation_ratio": 0.01}, "cpu_allocation_ratio", "schedulable vCPUs, but instances on"),
])
def test_a_host_cannot_be_shrunk_below_its_claims(client, staff_user, busy_host, changes, field, words):
    client.force_login(staff_user)
    before = Host.objects.get(pk=busy_host.pk)
    r = _post(client, busy_host, **changes)
    assert r.status_code == 200  # the form again, not a 500
    errors = r.context["adminform"].form.errors
    assert words in " ".join(errors.get(field, [])), errors
    after = Host.objects.get(pk=busy_host.pk)
    assert (after.memory_mib, after.max_instances, after.cpu_allocation_ratio) == \
        (before.memory_mib, before.max_instances, before.cpu_allocation_ratio)
    assert ledger_audit() == []


def test_a_host_edit_that_keeps_room_for_its_claims_saves(client, staff_user, busy_host):
    client.force_login(staff_user)
    r = _post(client, busy_host, max_instances=busy_host.instances_used, cpu_allocation_ratio=2.0)
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    busy_host.refresh_from_db()
    assert busy_host.max_instances == busy_host.instances_used and busy_host.cpu_allocation_ratio == 2.0


def test_events_and_reservations_cannot_be_made_up_in_the_admin(client, staff_user, catalog):
    client.force_login(staff_user)
    assert client.get("/admin/provisioning/event/add/").status_code == 403
    assert client.get("/admin/provisioning/reservation/add/").status_code == 403


def test_an_admin_edit_saves_through_the_hosts_service_and_writes_an_event(client, staff_user, busy_host):
    client.force_login(staff_user)
    r = _post(client, busy_host, max_instances=150, cpu_allocation_ratio=2.0)
    assert r.status_code == 302
    event = Event.objects.get(action="host.update")
    assert event.host_id == busy_host.pk and event.actor == staff_user.username
    assert event.data["changes"] == {"cpu_allocation_ratio": [4.0, 2.0], "max_instances": [200, 150]}
    assert "max_instances 200 → 150" in event.message


def test_the_admin_does_not_change_the_hypervisor_under_running_guests(client, staff_user, busy_host):
    client.force_login(staff_user)
    old_version = busy_host.hypervisor_version
    r = _post(client, busy_host, hypervisor_version="9.0")
    assert r.status_code == 200
    assert "enter maintenance first" in " ".join(r.context["adminform"].form.errors["hypervisor_version"])
    assert Host.objects.get(pk=busy_host.pk).hypervisor_version == old_version
    assert not Event.objects.filter(host=busy_host, action__startswith="host.").exists()


def test_disabling_a_host_in_the_admin_needs_a_reason_that_lands_in_the_event(client, staff_user, busy_host):
    client.force_login(staff_user)
    r = _post(client, busy_host, state="disabled")
    assert r.status_code == 200 and "Say why" in " ".join(r.context["adminform"].form.errors["reason"])
    assert Host.objects.get(pk=busy_host.pk).state == "enabled"
    assert not Event.objects.filter(host=busy_host, action__startswith="host.").exists()
    assert _post(client, busy_host, state="disabled", reason="fan failure").status_code == 302
    event = Event.objects.get(action="host.disable")
    assert event.data == {"changes": {"state": ["enabled", "disabled"]}, "reason": "fan failure"}


def test_a_host_is_added_through_the_hosts_service(client, staff_user, catalog):
    client.force_login(staff_user)
    template = Host.objects.first()
    data = {k: v for k, v in model_to_dict(template).items() if v is not None and k != "id"}
    data.update(name="hv-new", network_cidr="10.250.0.0/24", cached_appliances=[],
                cpu_features='["vmx", "lm"]', supported_modes='["hardware_assisted"]')
    r = client.post("/admin/provisioning/host/add/", data)
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    host = Host.objects.get(name="hv-new")
    assert Event.objects.get(action="host.create").host == host and host.vcpus_limit > 0


@pytest.mark.parametrize("model", ["claim", "event", "reservation", "idempotencyrecord"])
def test_the_ledger_and_the_audit_trail_are_read_only_in_the_admin(client, staff_user, busy_host, model):
    from django.apps import apps

    row = apps.get_model("provisioning", model).objects.first()
    if row is None:  # no idempotency record yet: make one the way the API does
        instance_factory(busy_host.instances.first().owner, appliance="debian-12", instance_type="t3.nano",
                         idempotency_key="k")
        row = apps.get_model("provisioning", model).objects.first()
    client.force_login(staff_user)
    base = f"/admin/provisioning/{model}/"
    assert client.get(base).status_code == 200  # viewable
    assert client.get(base + "add/").status_code == 403
    assert client.post(base + "add/", {}).status_code == 403
    assert client.post(f"{base}{row.pk}/change/", {}).status_code == 403
    assert client.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert apps.get_model("provisioning", model).objects.filter(pk=row.pk).exists()
