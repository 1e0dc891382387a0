"""Host maintenance, driven inline through the real steps (`drain`): enter, what is left and why,
cancel, exit, hypervisor upgrade. The real Celery worker drives the same steps in
test_maintenance_celery.py."""
from __future__ import annotations

import pytest
from django.test import override_settings

from provisioning.exceptions import InvalidRequest, InvalidState, MaintenanceRefused
from provisioning.models import Event, Host, Instance, Maintenance, Migration
from provisioning.pipeline import engine
from provisioning.services.claims import ledger_audit
from provisioning.services.instances import instance_action
from provisioning.services.launch import instance_launch
from provisioning.services.maintenance import (
    host_hypervisor_upgrade,
    maintenance_cancel,
    maintenance_enter,
    maintenance_exit,
)
from tests.fixtures_domain import drain

from .conftest import pack

pytestmark = pytest.mark.django_db


def _host(name: str = "hv-01") -> Host:
    return Host.objects.get(name=name)


def test_enter_moves_every_guest_and_only_then_is_in_maintenance(catalog, user):
    guests = pack(user, "hv-01", 6)
    instance_action(user=user, instance=guests[0], action="stop")
    drain()
    m = maintenance_enter(host=_host(), actor="root", note="BIOS update")
    assert _host().state == "entering_maintenance" and m.status == "entering"
    # No new placement on a host entering maintenance, even when asked for its zone.
    other = instance_launch(user=user, appliance="debian-12", instance_type="t3.micro",
                            availability_zone="sky-1a").reservation.instances.get()
    assert other.host.name != "hv-01"
    drain()
    m.refresh_from_db()
    host = _host()
    assert host.state == "maintenance" and m.status == "in_maintenance" and m.entered_at is not None
    assert not Instance.objects.filter(host=host, state__in=["running", "stopped", "pending"]).exists()
    for g in guests:
        g.refresh_from_db()
        assert g.host.name != "hv-01" and g.host.availability_zone == "sky-1a"
        assert g.hostname == "ip-" + g.private_ip.replace(".", "-")  # renamed with its new address
    assert {g.state for g in guests} == {"running", "stopped"}
    assert m.migrations_started == 5 and m.rehomed == 1 and m.remaining == []
    assert Migration.objects.filter(source_host=host, status="completed").count() == 5
    actions = set(Event.objects.filter(host=host).values_list("action", flat=True))
    assert {"host.maintenance_entering", "host.maintenance_entered"} <= actions
    assert Event.objects.get(action="host.maintenance_entering").actor == "root"
    assert ledger_audit() == []


def test_enter_refuses_when_a_guest_cannot_move_and_changes_nothing(catalog, user):
    pack(user, "hv-01", 2)
    Host.objects.filter(availability_zone="sky-1a").exclude(name__in=["hv-01", "hv-17"]).update(state="disabled")
    with pytest.raises(MaintenanceRefused) as refused:
        maintenance_enter(host=_host(), actor="root")
    body = refused.value.as_dict()
    assert body["code"] == "maintenance_refused" and not body["preflight"]["feasible"]
    assert all("VT-x" in g["reason"] for g in body["preflight"]["guests"])
    assert _host().state == "enabled"
    assert not Maintenance.objects.exists() and not Migration.objects.exists()
    assert Event.objects.filter(action="host.maintenance_refused").exists()


def test_what_is_left_and_why_while_entering(catalog, user):
    guests = pack(user, "hv-01", 3)
    maintenance_enter(host=_host(), actor="root")
    kind = engine.kind_get("maintenance")
    m = Maintenance.objects.get()
    engine.step_advance(kind=kind.name, object_id=m.pk, seq=m.step_seq)  # starts the three migrations
    m.refresh_from_db()
    assert m.status == "entering" and _host().state == "entering_maintenance"
    assert {r["instance"] for r in m.remaining} == {g.public_id for g in guests}
    assert all("migration mig-" in r["why"] for r in m.remaining)
    assert "3 of 3 guest(s) still on hv-01" in m.note


def _step(kind: str, row) -> None:
    row.refresh_from_db()
    engine.step_advance(kind=kind, object_id=row.pk, seq=row.step_seq)


def test_cancel_midway_returns_the_host_with_nothing_lost(catalog, user):
    guests = pack(user, "hv-01", 4)
    with override_settings(SKYPORT_MIGRATION_SLOTS=1):  # one move at a time: three guests wait their turn
        maintenance_enter(host=_host(), actor="root")
        m = Maintenance.objects.get()
        _step("maintenance", m)
        m.refresh_from_db()
        first = Migration.objects.get()
        waiting = [r for r in m.remaining if "waits for a migration slot" in r["why"]]
        assert len(waiting) == 3 and "1 of 1 of hv-01's in use" in waiting[0]["why"]
        _step("migration", first)  # admitted: it is moving now
        maintenance_cancel(host=_host(), actor="root", note="changed my mind")
        drain()
    m.refresh_from_db()
    assert m.status == "cancelled" and "changed my mind" in m.reason and _host().state == "enabled"
    first.refresh_from_db()
    assert first.status == "completed" and Migration.objects.count() == 1  # it finished; nothing new started
    for g in guests:
        g.refresh_from_db()
        assert g.state == "running" and g.task == ""
    assert Instance.objects.filter(host__name="hv-01", state="running").count() == 3
    assert ledger_audit() == []
    with pytest.raises(InvalidState, match="nothing to cancel"):
        maintenance_cancel(host=_host(), actor="root")


def test_cancel_can_abort_the_moves_under_way(catalog, user):
    guests = pack(user, "hv-01", 2)
    maintenance_enter(host=_host(), actor="root")
    _step("maintenance", Maintenance.objects.get())
    assert Migration.objects.filter(status="accepted").count() == 2
    maintenance_cancel(host=_host(), actor="root", abort_running=True)
    drain()
    assert set(Migration.objects.values_list("status", flat=True)) == {"cancelled"}
    assert {(g.host.name, g.state) for g in Instance.objects.filter(pk__in=[g.pk for g in guests])} == \
        {("hv-01", "running")}
    assert _host().state == "enabled" and ledger_audit() == []


def test_exit_and_upgrade_only_in_maintenance(catalog, user):
    pack(user, "hv-01", 1)
    with pytest.raises(InvalidState, match="only in maintenance"):
        host_hypervisor_upgrade(host=_host(), version="7.1.0", actor="root")
    with pytest.raises(InvalidState, match="only a host in maintenance can exit"):
        maintenance_exit(host=_host(), actor="root")
    maintenance_enter(host=_host(), actor="root")
    with pytest.raises(InvalidState, match="already"):
        maintenance_enter(host=_host(), actor="root")
    drain()
    with pytest.raises(InvalidRequest, match="newer"):
        host_hypervisor_upgrade(host=_host(), version="6.0", actor="root")
    with pytest.raises(InvalidRequest, match="version"):
        host_hypervisor_upgrade(host=_host(), version="latest", actor="root")
    host_hypervisor_upgrade(host=_host(), version="7.1.0", actor="root")
    assert _host().hypervisor_version == "7.1.0"
    m = maintenance_exit(host=_host(), actor="root", note="patched")
    assert m.status == "exited" and m.hypervisor_before == "7.0.3" and m.hypervisor_after == "7.1.0"
    assert _host().state == "enabled"
    assert Event.objects.filter(action="host.hypervisor_upgraded", actor="root").exists()
    assert ledger_audit() == []


def test_the_host_form_cannot_bypass_the_maintenance_service(catalog, user):
    from provisioning.services.hosts import host_update

    pack(user, "hv-01", 1)
    with pytest.raises(InvalidRequest, match="maintenance service"):
        host_update(actor="ops", host=_host("hv-03"), state="entering_maintenance")
    maintenance_enter(host=_host(), actor="root")
    with pytest.raises(InvalidRequest, match="maintenance service"):
        host_update(actor="ops", host=_host(), state="enabled")
    drain()
    with pytest.raises(InvalidRequest, match="maintenance service"):
        host_update(actor="ops", host=_host(), state="enabled")  # exit it instead: its record stays right
    maintenance_exit(host=_host(), actor="root")
    assert host_update(actor="ops", host=_host(), state="disabled", reason="NIC").state == "disabled"
