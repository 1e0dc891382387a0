"""Maintenance and balancing from the console: the preflight before anything moves, entering, what is
left and why, cancel, upgrade, exit; the imbalance, recommendations, apply one or all."""
from __future__ import annotations

import pytest

from provisioning.models import Host, Instance, Maintenance, Migration
from provisioning.services.claims import ledger_audit
from tests.fixtures_domain import drain

from .conftest import guests_on

pytestmark = pytest.mark.django_db


def test_preflight_then_enter_then_upgrade_and_exit(staff, catalog, user):
    guests_on(user, "hv-01", 3)
    page = staff.get("/console/hosts/hv-01/maintenance/")
    body = page.content.decode()
    assert page.status_code == 200 and 'id="preflight"' in body and "hv-01: 3 guest(s)" in body
    assert body.count('<tr id="pf-') == 3 and "live-migrate" in body and "Enter maintenance" in body
    assert Maintenance.objects.count() == 0 and Migration.objects.count() == 0  # a dry run

    r = staff.post("/console/hosts/hv-01/maintenance/enter/", {"reason": "firmware"}, follow=True)
    assert "is entering maintenance" in r.content.decode()
    assert Host.objects.get(name="hv-01").state == "entering_maintenance"
    live = staff.get("/console/hosts/hv-01/maintenance/", HTTP_HX_REQUEST="true")
    assert live.status_code == 200 and 'id="remaining"' in live.content.decode()
    assert "slots" in live.content.decode()
    drain()
    host = Host.objects.get(name="hv-01")
    assert host.state == "maintenance" and host.instances_used == 0
    done = staff.get("/console/hosts/hv-01/maintenance/", HTTP_HX_REQUEST="true")
    assert done.status_code == 286 and "is empty" in done.content.decode()  # the last poll
    assert all(i.host_id != host.pk and i.state == "running" for i in Instance.objects.all())

    bad = staff.post("/console/hosts/hv-01/upgrade/", {"version": "1.0"}, follow=True)
    assert 'class="alert alert-error"' in bad.content.decode()
    staff.post("/console/hosts/hv-01/upgrade/", {"version": "9.1"})
    staff.post("/console/hosts/hv-01/maintenance/exit/", {})
    host.refresh_from_db()
    assert (host.state, host.hypervisor_version) == ("enabled", "9.1")
    listing = staff.get("/console/maintenance/").content.decode()
    assert "hv-01" in listing and "exited" in listing
    assert ledger_audit() == []


def test_a_refused_entry_names_the_guests_that_cannot_move(staff, catalog, user):
    guests_on(user, "hv-01", 2)
    Host.objects.filter(availability_zone="sky-1a").exclude(name="hv-01").update(state="disabled")
    page = staff.get("/console/hosts/hv-01/maintenance/").content.decode()
    assert "cannot move" in page and "Enter maintenance" not in page
    r = staff.post("/console/hosts/hv-01/maintenance/enter/", {}, follow=True)
    assert 'class="alert alert-error"' in r.content.decode() and "cannot move" in r.content.decode()
    assert Host.objects.get(name="hv-01").state == "enabled" and Maintenance.objects.count() == 0


def test_cancel_is_confirmed_and_returns_the_host(staff, catalog, user):
    guests_on(user, "hv-01", 2)
    staff.post("/console/hosts/hv-01/maintenance/enter/", {})
    ask = staff.post("/console/hosts/hv-01/maintenance/cancel/")
    assert "Every guest keeps running" in ask.content.decode()
    assert Host.objects.get(name="hv-01").state == "entering_maintenance"
    staff.post("/console/hosts/hv-01/maintenance/cancel/", {"confirm": "yes"})
    drain()
    assert Host.objects.get(name="hv-01").state == "enabled"
    assert Instance.objects.filter(state="running").count() == 2 and ledger_audit() == []


def test_balancing_shows_the_imbalance_and_applies_one_then_all(staff, catalog, user):
    guests_on(user, "hv-01", 16)
    page = staff.get("/console/balancing/")
    body = page.content.decode()
    assert page.status_code == 200 and 'id="imbalance-figure"' in body and 'id="recommendations"' in body
    assert "hv-01" in body and "manual" in body
    first = body.split('<tr id="rec-')[1].split('"')[0]
    r = staff.post("/console/balancing/apply/", {"instance": first}, follow=True)
    assert "1 balancing migration(s) started" in r.content.decode()
    assert Migration.objects.filter(instance__public_id=first).exists()
    ask = staff.post("/console/balancing/apply/", {})
    assert "Apply all" in ask.content.decode() and "expected to go from" in ask.content.decode()
    assert Migration.objects.count() == 1  # the confirmation page moved nothing
    staff.post("/console/balancing/apply/", {"confirm": "yes"})
    drain()
    assert Migration.objects.count() > 1 and ledger_audit() == []
    at_one = staff.get("/console/balancing/?threshold=1").content.decode()
    assert "Threshold level 1" in at_one


def test_maintenance_and_balancing_pages_are_staff_only(staff, tenant, client, catalog):
    for url in ("/console/maintenance/", "/console/hosts/hv-01/maintenance/", "/console/balancing/"):
        assert staff.get(url).status_code == 200, url
        assert tenant.get(url).status_code == 403, url
        assert client.get(url).status_code == 302, url
    for url in ("/console/hosts/hv-01/maintenance/enter/", "/console/balancing/apply/"):
        assert tenant.post(url, {"confirm": "yes"}).status_code == 403, url
    assert Host.objects.get(name="hv-01").state == "enabled" and Migration.objects.count() == 0


def test_the_host_page_offers_upgrade_and_exit_in_maintenance(staff, catalog):
    staff.post("/console/hosts/hv-02/maintenance/enter/", {})
    drain()  # an empty host is in maintenance at once
    page = staff.get("/console/hosts/hv-02/").content.decode()
    assert "Upgrade the hypervisor" in page and "Exit maintenance" in page
    staff.post("/console/hosts/hv-02/upgrade/", {"version": "8.0"})
    staff.post("/console/hosts/hv-02/maintenance/exit/", {})
    host = Host.objects.get(name="hv-02")
    assert (host.state, host.hypervisor_version) == ("enabled", "8.0")
