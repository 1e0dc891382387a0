"""The staff API for maintenance, migrations and balancing: one service call each, 4xx that say
what to fix, and the flows an operator runs (with the pipeline drained inline)."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from portal.tokens import token_issue
from provisioning.models import Host, Instance, Migration
from provisioning.services.claims import ledger_audit
from tests.fixtures_domain import drain

from .conftest import pack

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_api(staff_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=staff_user)[1]}")
    return client


def test_drain_a_host_over_the_api(catalog, user, staff_api):
    pack(user, "hv-01", 3)
    pre = staff_api.get("/api/v1/staff/hosts/hv-01/preflight/")
    assert pre.status_code == 200 and pre.data["feasible"] and len(pre.data["guests"]) == 3
    assert staff_api.get("/api/v1/staff/hosts/hv-01/maintenance/").status_code == 404
    enter = staff_api.post("/api/v1/staff/hosts/hv-01/maintenance/", {"note": "disk swap"}, format="json")
    assert enter.status_code == 202 and enter.data["status"] == "entering"
    assert enter.data["host_state"] == "entering_maintenance" and enter.data["request_note"] == "disk swap"
    drain()
    now = staff_api.get("/api/v1/staff/hosts/hv-01/maintenance/")
    assert now.status_code == 200 and now.data["status"] == "in_maintenance" and now.data["remaining"] == []
    up = staff_api.post("/api/v1/staff/hosts/hv-01/hypervisor-upgrade/", {"version": "7.2"}, format="json")
    assert up.status_code == 200 and up.data["hypervisor_version"] == "7.2"
    out = staff_api.post("/api/v1/staff/hosts/hv-01/maintenance/exit/", {}, format="json")
    assert out.status_code == 202 and out.data["status"] == "exited" and out.data["host_state"] == "enabled"
    assert ledger_audit() == []


def test_maintenance_refusals_are_409_with_the_reason(catalog, user, staff_api):
    pack(user, "hv-01", 1)
    Host.objects.filter(availability_zone="sky-1a").exclude(name__in=["hv-01", "hv-17"]).update(state="disabled")
    refused = staff_api.post("/api/v1/staff/hosts/hv-01/maintenance/", {}, format="json")
    assert refused.status_code == 409 and refused.data["code"] == "maintenance_refused"
    assert refused.data["preflight"]["guests"][0]["action"] == "cannot move"
    assert staff_api.post("/api/v1/staff/hosts/hv-01/maintenance/exit/", {}, format="json").status_code == 409
    assert staff_api.post("/api/v1/staff/hosts/hv-01/maintenance/cancel/", {}, format="json").status_code == 409
    upgrade = staff_api.post("/api/v1/staff/hosts/hv-01/hypervisor-upgrade/", {"version": "9"}, format="json")
    assert upgrade.status_code == 409 and "maintenance" in upgrade.data["detail"]
    typo = staff_api.post("/api/v1/staff/hosts/hv-01/maintenance/", {"nte": "x"}, format="json")
    assert typo.status_code == 400 and "nte" in typo.data


def test_migrations_create_list_detail_abort(catalog, user, staff_api):
    (a, b) = pack(user, "hv-01", 2)
    bad = staff_api.post("/api/v1/staff/migrations/", {"instance": a.public_id, "destination": "hv-02"},
                         format="json")
    assert bad.status_code == 400 and "hv-02" in str(bad.data["destination"])  # another zone: filters refuse
    made = staff_api.post("/api/v1/staff/migrations/", {"instance": a.public_id}, format="json")
    assert made.status_code == 202 and made.data["status"] == "accepted" and made.data["source"] == "hv-01"
    again = staff_api.post(f"/api/v1/staff/instances/{a.public_id}/migrate/", {}, format="json")
    assert again.status_code == 409
    other = staff_api.post(f"/api/v1/staff/instances/{b.public_id}/migrate/", {"destination": "hv-03"},
                           format="json")
    assert other.status_code == 202 and other.data["destination"] == "hv-03"
    aborted = staff_api.post(f"/api/v1/staff/migrations/{other.data['id']}/abort/")
    assert aborted.status_code == 202 and aborted.data["status"] == "cancelled"
    drain()
    listed = staff_api.get("/api/v1/staff/migrations/", {"status": "completed"}).data
    assert [m["id"] for m in listed["results"]] == [made.data["id"]]
    assert staff_api.get("/api/v1/staff/migrations/", {"host": "hv-03"}).data["count"] >= 1
    detail = staff_api.get(f"/api/v1/staff/migrations/{made.data['id']}/").data
    assert detail["rounds"] and detail["rounds"][0]["round"] == 0 and detail["downtime_ms"] is not None
    assert staff_api.post(f"/api/v1/staff/migrations/{made.data['id']}/abort/").status_code == 409
    assert Instance.objects.get(pk=a.pk).host.name != "hv-01"
    assert Instance.objects.get(pk=b.pk).host.name == "hv-01"
    assert ledger_audit() == []


def test_balancing_recommend_and_apply_one(catalog, user, staff_api):
    pack(user, "hv-01", 12)
    plan = staff_api.get("/api/v1/staff/balancing/", {"max_moves": 3})
    assert plan.status_code == 200 and len(plan.data["recommendations"]) == 3
    assert staff_api.get("/api/v1/staff/balancing/", {"threshold": 9}).status_code == 400
    first = plan.data["recommendations"][0]
    one = staff_api.post("/api/v1/staff/balancing/apply/", {"instance": first["instance"]}, format="json")
    assert one.status_code == 202 and [s["instance"] for s in one.data["started"]] == [first["instance"]]
    mig = Migration.objects.get()
    assert mig.request_note.startswith("balancing:") and mig.dest_host.name == first["destination"]
    stale = staff_api.post("/api/v1/staff/balancing/apply/", {"instance": first["instance"]}, format="json")
    assert stale.status_code == 409 and "not recommended" in stale.data["detail"]
    drain()
    assert ledger_audit() == []


def test_balancing_policy_read_set_and_refused_with_reasons(catalog, user, staff_api):
    from provisioning.models import BalancingPolicy, Event

    url = "/api/v1/staff/balancing/policy/"
    first = staff_api.get(url)
    assert first.status_code == 200 and first.data == {"mode": "manual", "threshold": 3, "updated_by": "",
                                                        "updated_at": None}  # the setting's default
    put = staff_api.put(url, {"mode": "automatic", "threshold": 4}, format="json")
    assert put.status_code == 200 and put.data["changes"] == ["mode manual → automatic", "threshold level 3 → 4"]
    assert put.data["updated_by"] == "root" and put.data["updated_at"]
    event = Event.objects.get(action="balancing.policy_changed")
    assert event.actor == "root" and "mode manual → automatic" in event.message
    patch = staff_api.patch(url, {"threshold": 2}, format="json")
    assert patch.status_code == 200 and patch.data["mode"] == "automatic" and patch.data["threshold"] == 2
    assert staff_api.get("/api/v1/staff/balancing/").data["policy"]["threshold"] == 2
    same = staff_api.patch(url, {"threshold": 2}, format="json")
    assert same.status_code == 200 and same.data["changes"] == [] and "Nothing changed" in same.data["message"]
    for body, field in (({"mode": "sometimes"}, "mode"), ({"threshold": 7}, "threshold"),
                        ({"threshold": "high"}, "threshold"), ({"updated_by": "mallory"}, "updated_by"),
                        ({"mode": "manual"}, "threshold")):  # a PUT gives both fields
        bad = staff_api.put(url, body, format="json")
        assert bad.status_code == 400 and field in bad.data and bad.data["code"] == "invalid_request", body
    empty = staff_api.patch(url, {}, format="json")
    assert empty.status_code == 400 and "Say what to change" in str(empty.data)
    assert staff_api.patch(url, "[1", content_type="application/json").status_code == 400
    policy = BalancingPolicy.objects.get()
    assert (policy.mode, policy.threshold) == ("automatic", 2)
    assert Event.objects.filter(action="balancing.policy_changed").count() == 2


def test_balancing_policy_is_in_the_schema():
    import yaml

    doc = yaml.safe_load(APIClient().get("/api/schema/").content)
    ops = doc["paths"]["/api/v1/staff/balancing/policy/"]
    assert {"get", "put", "patch"} <= set(ops)
    assert "403" in ops["patch"]["responses"] and "400" in ops["patch"]["responses"]
