"""Reservations (min_count/max_count, EC2 semantics), quotas and the staff endpoints."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from provisioning.models import Event, Host, InstanceType
from provisioning.services.claims import ledger_audit
from provisioning.services.quotas import quota_set
from tests.fixtures_domain import drain

from .conftest import counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_fleet(catalog, user):
    """One enabled host with room for exactly two `x1.big` (100 GiB) instances; a quota that is no limit."""
    Host.objects.exclude(name="hv-01").update(state="disabled")
    InstanceType.objects.create(name="x1.big", vcpus=2, memory_mib=100 * 1024, disk_gib=10)
    quota_set(user=user, instances=50, vcpus=500, memory_mib=10_000_000)
    return Host.objects.get(name="hv-01")


def reserve(api, **fields):
    body = {"appliance": "ubuntu-22-04", "instance_type": "x1.big", **fields}
    return api.post("/api/v1/reservations/", body, format="json")


def test_max_above_fit_launches_what_fits(api, tiny_fleet, settings):
    settings.SKYPORT_SHOW_HOSTS_TO_TENANTS = True  # (hidden by default: tests/web/test_secrets_and_hosts.py)
    resp = reserve(api, min_count=1, max_count=5, name="batch")
    assert resp.status_code == 202, resp.data
    assert resp.data["id"].startswith("r-") and resp.data["min_count"] == 1 and resp.data["max_count"] == 5
    insts = resp.data["instances"]
    assert len(insts) == 2 and all(i["state"] == "pending" and i["host"] == "hv-01" for i in insts)
    assert [i["name"] for i in insts] == ["batch-1", "batch-2"]
    assert resp["Location"] == f"/api/v1/reservations/{resp.data['id']}/"
    drain()
    detail = api.get(f"/api/v1/reservations/{resp.data['id']}/").data
    assert [i["state"] for i in detail["instances"]] == ["running", "running"]
    assert ledger_audit() == []


def test_min_above_fit_is_409_with_explanation_and_nothing_created(api, tiny_fleet):
    resp = reserve(api, min_count=3, max_count=4)
    assert resp.status_code == 409 and resp.data["code"] == "insufficient_capacity"
    assert "Only 2 of the minimum 3" in resp.data["detail"]
    assert resp.data["explanation"]["filters"] and resp.data["explanation"]["hosts_total"] == 20
    assert "disabled" in resp.data["detail"] or "state" in str(resp.data["explanation"]["filters"])
    c = counts()
    assert (c["instances"], c["claims"], c["reservations"]) == (0, 0, 0)
    tiny_fleet.refresh_from_db()
    assert tiny_fleet.memory_mib_used == 0 and ledger_audit() == []


def test_exact_fit(api, tiny_fleet):
    resp = reserve(api, min_count=2, max_count=2)
    assert resp.status_code == 202 and len(resp.data["instances"]) == 2
    assert reserve(api).status_code == 409  # the fleet is full now


def test_max_count_defaults_to_min_count(catalog, api):
    resp = api.post("/api/v1/reservations/", {"appliance": "debian-12", "instance_type": "t3.nano", "min_count": 3},
                    format="json")
    assert resp.status_code == 202 and len(resp.data["instances"]) == 3


@pytest.mark.parametrize("fields,field", [
    ({"min_count": 0}, "min_count"),
    ({"min_count": 3, "max_count": 2}, "max_count"),
    ({"max_count": 101}, "max_count"),
    ({"min_count": "many"}, "min_count"),
])
def test_bad_counts_are_400(catalog, api, fields, field):
    resp = api.post("/api/v1/reservations/", {"appliance": "debian-12", "instance_type": "t3.nano", **fields},
                    format="json")
    assert resp.status_code == 400 and field in resp.data, resp.data
    assert counts()["reservations"] == 0


def test_quota_exceeded_is_400_naming_resource_and_nothing_created(catalog, api, user):
    quota_set(user=user, instances=2, vcpus=100, memory_mib=1_000_000)
    resp = api.post("/api/v1/reservations/", {"appliance": "debian-12", "instance_type": "t3.nano",
                                              "min_count": 3}, format="json")
    assert resp.status_code == 400 and resp.data["code"] == "quota_exceeded"
    assert "instances: limit 2" in resp.data["quota"][0]
    assert counts()["instances"] == 0 and counts()["reservations"] == 0


def test_quota_caps_max_count(catalog, api, user):
    quota_set(user=user, instances=2, vcpus=100, memory_mib=1_000_000)
    resp = api.post("/api/v1/reservations/", {"appliance": "debian-12", "instance_type": "t3.nano",
                                              "min_count": 1, "max_count": 5}, format="json")
    assert resp.status_code == 202 and len(resp.data["instances"]) == 2


def test_quota_endpoint_shows_usage(catalog, api):
    empty = api.get("/api/v1/quota/").data
    assert empty["instances"]["used"] == 0 and empty["instances"]["remaining"] == empty["instances"]["limit"]
    api.post("/api/v1/instances/", {"appliance": "debian-12", "instance_type": "t3.small"}, format="json")
    usage = api.get("/api/v1/quota/").data
    assert usage["instances"]["used"] == 1 and usage["vcpus"]["used"] == 2 and usage["memory_mib"]["used"] == 2048


def test_staff_sets_a_users_quota(catalog, user, staff_user, api):
    staff = APIClient()
    staff.force_authenticate(staff_user)
    resp = staff.put("/api/v1/users/alice/quota/", {"instances": 3, "vcpus": 6, "memory_mib": 8192}, format="json")
    assert resp.status_code == 200 and resp.data["instances"]["limit"] == 3
    (event,) = Event.objects.filter(action="quota.set")  # written once, by quota_set
    assert event.actor == staff_user.username and event.owner == user
    assert api.get("/api/v1/quota/").data["vcpus"]["limit"] == 6
    assert staff.get("/api/v1/users/alice/quota/").data["memory_mib"]["limit"] == 8192
    assert staff.put("/api/v1/users/nobody/quota/", {"instances": 1, "vcpus": 1, "memory_mib": 1},
                     format="json").status_code == 404
    bad = staff.put("/api/v1/users/alice/quota/", {"instances": -1, "vcpus": 6}, format="json")
    assert bad.status_code == 400 and {"instances", "memory_mib"} <= set(bad.data)


def test_non_staff_cannot_set_quota(catalog, user, api):
    resp = api.put("/api/v1/users/alice/quota/", {"instances": 99, "vcpus": 99, "memory_mib": 99999}, format="json")
    assert resp.status_code == 403 and resp.data["code"] == "permission_denied"


def test_staff_placement_dry_run(catalog, staff_user, api):
    staff = APIClient()
    staff.force_authenticate(staff_user)
    resp = staff.post("/api/v1/placement/dry-run/", {"appliance": "ubuntu-lamp", "instance_type": "t3.small"},
                      format="json")
    assert resp.status_code == 200 and resp.data["chosen"] and resp.data["candidates"]
    assert counts()["claims"] == 0
    assert api.post("/api/v1/placement/dry-run/", {"appliance": "ubuntu-lamp", "instance_type": "t3.small"},
                    format="json").status_code == 403
    bad = staff.post("/api/v1/placement/dry-run/", {"appliance": "nope", "instance_type": "t3.small"}, format="json")
    assert bad.status_code == 400 and "appliance" in bad.data
