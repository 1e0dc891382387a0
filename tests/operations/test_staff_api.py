"""The staff API: hosts with utilisation and guests, every tenant's instances and actions on them;
in the OpenAPI schema, and refused (403) to every non-staff token, on every staff endpoint."""
from __future__ import annotations

import re

import pytest
import yaml
from rest_framework.test import APIClient

from portal.tokens import token_issue
from provisioning.models import Host, Instance
from provisioning.services.claims import ledger_audit
from tests.factories import reservation_factory
from tests.fixtures_domain import drain

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_api(staff_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=staff_user)[1]}")
    return client


@pytest.fixture
def tenant_api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user)[1]}")
    return client


@pytest.fixture
def running(catalog, user):
    reservation = reservation_factory(user, 3, appliance="debian-12")
    drain()
    return list(reservation.instances.order_by("id"))


def _staff_paths() -> list[tuple[str, str]]:
    doc = yaml.safe_load(APIClient().get("/api/schema/").content)
    return [(path, method) for path, ops in doc["paths"].items() if path.startswith("/api/v1/staff/")
            for method in ops if method in ("get", "post", "put", "patch", "delete")]


def test_staff_endpoints_are_in_the_schema():
    paths = {p for p, _m in _staff_paths()}
    for path in ("/api/v1/staff/hosts/", "/api/v1/staff/hosts/{name}/", "/api/v1/staff/instances/",
                 "/api/v1/staff/instances/{id}/", "/api/v1/staff/instances/{id}/stop/",
                 "/api/v1/staff/instances/{id}/terminate/"):
        assert path in paths, path


def test_every_staff_endpoint_refuses_a_tenant_token_and_anonymous(running, tenant_api):
    inst = running[0]
    host = inst.host
    listed = _staff_paths()
    assert len(listed) >= 6
    for path, method in listed:
        url = re.sub(r"\{name\}", host.name, re.sub(r"\{id\}", inst.public_id, path))
        url = re.sub(r"\{[^}]+\}", "x", url)
        resp = getattr(tenant_api, method)(url, {}, format="json")
        assert resp.status_code == 403, (method, url, resp.status_code)
        assert resp.data["code"] == "permission_denied"
        anon = getattr(APIClient(), method)(url, {}, format="json")
        assert anon.status_code == 401, (method, url, anon.status_code)
    inst.refresh_from_db()
    assert inst.state == "running"  # nothing was done by the refused calls


def test_host_list_shows_state_and_utilisation(running, staff_api):
    resp = staff_api.get("/api/v1/staff/hosts/", {"page_size": 100})
    assert resp.status_code == 200
    assert resp.data["count"] == Host.objects.count()
    rows = {row["name"]: row for row in resp.data["results"]}
    host = Host.objects.get(pk=running[0].host_id)
    row = rows[host.name]
    assert row["state"] == "enabled"
    assert row["used"]["memory_mib"] == host.memory_mib_used > 0
    assert row["utilisation"]["memory"] == pytest.approx(host.memory_mib_used / host.memory_mib_limit, abs=1e-4)
    assert row["guests"] == Instance.objects.filter(host=host, state="running").count()
    assert sum(r["guests"] for r in rows.values()) == 3
    busy = staff_api.get("/api/v1/staff/hosts/", {"ordering": "-memory_mib_used"}).data["results"][0]
    assert busy["used"]["memory_mib"] == max(h.memory_mib_used for h in Host.objects.all())


def test_host_filters_and_detail_with_guests(running, staff_api):
    host = running[0].host
    zone = staff_api.get("/api/v1/staff/hosts/", {"availability_zone": "sky-1b", "page_size": 100}).data
    assert zone["count"] == Host.objects.filter(availability_zone="sky-1b").count()
    assert all(r["availability_zone"] == "sky-1b" for r in zone["results"])
    detail = staff_api.get(f"/api/v1/staff/hosts/{host.name}/")
    assert detail.status_code == 200
    guests = {g["id"] for g in detail.data["guest_list"]}
    assert guests == set(Instance.objects.filter(host=host, state="running").values_list("public_id", flat=True))
    assert detail.data["guest_list"][0]["owner"] == "alice"
    missing = staff_api.get("/api/v1/staff/hosts/hv-99/")
    assert missing.status_code == 404 and "hv-99" in missing.data["detail"]


def test_every_tenants_instances_with_filters(running, staff_api, other_user):
    theirs = reservation_factory(other_user, appliance="debian-12", instance_type="t3.micro")
    drain()
    other = theirs.instances.get()
    all_rows = staff_api.get("/api/v1/staff/instances/").data
    assert all_rows["count"] == 4
    bob = staff_api.get("/api/v1/staff/instances/", {"owner": "bob"}).data
    assert [r["id"] for r in bob["results"]] == [other.public_id] and bob["results"][0]["owner"] == "bob"
    on_host = staff_api.get("/api/v1/staff/instances/", {"host": running[0].host.name}).data
    assert running[0].public_id in {r["id"] for r in on_host["results"]}
    assert all(r["host"] == running[0].host.name for r in on_host["results"])
    assert staff_api.get("/api/v1/staff/instances/", {"state": "stopped"}).data["count"] == 0
    detail = staff_api.get(f"/api/v1/staff/instances/{other.public_id}/")
    assert detail.status_code == 200 and detail.data["owner"] == "bob"


def test_staff_stop_and_terminate_any_tenants_instance(running, staff_api):
    inst = running[0]
    stop = staff_api.post(f"/api/v1/staff/instances/{inst.public_id}/stop/")
    assert stop.status_code == 202 and stop.data["state"] == "stopping"
    drain()
    inst.refresh_from_db()
    assert inst.state == "stopped"
    assert inst.events.filter(action="instance.stop", actor="root").exists()
    again = staff_api.post(f"/api/v1/staff/instances/{inst.public_id}/stop/")
    assert again.status_code == 409 and "stopped" in again.data["detail"]
    term = staff_api.post(f"/api/v1/staff/instances/{inst.public_id}/terminate/")
    assert term.status_code == 202
    drain()
    inst.refresh_from_db()
    assert inst.state == "terminated"
    assert ledger_audit() == []
