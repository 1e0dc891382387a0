"""Instances over REST: launch, pipeline to running, actions, console, events, credentials, errors."""
from __future__ import annotations

import pytest

from provisioning.models import Claim, Host, Instance
from provisioning.services.claims import ledger_audit
from tests.factories import instance_factory
from tests.fixtures_domain import drain

from .conftest import BODY, INSTANCES, counts

pytestmark = pytest.mark.django_db


def test_create_answers_202_pending_then_drain_runs_it(catalog, api, settings):
    settings.SKYPORT_SHOW_HOSTS_TO_TENANTS = True  # (hidden by default: tests/web/test_secrets_and_hosts.py)
    resp = api.post(INSTANCES, {**BODY, "name": "web-1"}, format="json")
    assert resp.status_code == 202, resp.data
    data = resp.data
    assert data["id"].startswith("i-") and data["state"] == "pending" and data["state_code"] == 0
    assert data["appliance_name"] == "Ubuntu LAMP" and data["appliance"].startswith("ami-")
    assert data["instance_type"] == "t3.small" and data["reservation_id"].startswith("r-")
    assert data["security_groups"] == [{"id": data["security_groups"][0]["id"], "name": "default"}]
    assert resp["Location"] == f"/api/v1/instances/{data['id']}/"
    assert data["launched_at"] is None
    drain()
    running = api.get(f"/api/v1/instances/{data['id']}/").data
    assert running["state"] == "running" and running["state_code"] == 16 and running["task"] == ""
    assert running["host"] and running["private_ip"] and running["launched_at"]
    assert running["hostname"] == "web-1" and running["virt_mode"]
    assert running["credentials"]["username"] == "ubuntu"
    assert running["credentials"]["connect"] == f"ssh ubuntu@{running['private_ip']}"
    assert running["credentials"]["password_available"] is True
    assert "password" not in running["credentials"]
    assert set(running["actions"]) == {"stop", "reboot", "terminate"}
    assert ledger_audit() == []


def test_list_is_own_only_filterable_and_paginated(catalog, api, user, other_user):
    ids = [inst.public_id for inst in instance_factory(user, 3)]
    instance_factory(other_user)
    listing = api.get("/api/v1/instances/?page_size=2")
    assert listing.data["count"] == 3 and len(listing.data["results"]) == 2 and listing.data["next"]
    assert {r["id"] for r in api.get("/api/v1/instances/").data["results"]} == set(ids)
    drain()
    api.post(f"/api/v1/instances/{ids[0]}/stop/")
    drain()
    stopped = api.get("/api/v1/instances/?state=stopped").data
    assert [r["id"] for r in stopped["results"]] == [ids[0]]
    both = api.get("/api/v1/instances/?state=stopped&state=running").data
    assert both["count"] == 3
    assert api.get("/api/v1/instances/?state=sleeping").status_code == 400


def test_stop_start_reboot_terminate_and_capacity_release(catalog, api, launched):
    inst = Instance.objects.get(public_id=launched)
    host = inst.host
    used_before = (host.vcpus_used, host.memory_mib_used, host.disk_gib_used)
    assert used_before[0] >= 2

    stop = api.post(f"/api/v1/instances/{launched}/stop/")
    assert stop.status_code == 202 and stop.data["state"] == "stopping"
    drain()
    assert api.get(f"/api/v1/instances/{launched}/").data["state"] == "stopped"

    start = api.post(f"/api/v1/instances/{launched}/start/")
    assert start.status_code == 202 and start.data["state"] == "pending"
    drain()
    assert api.get(f"/api/v1/instances/{launched}/").data["state"] == "running"

    reboot = api.post(f"/api/v1/instances/{launched}/reboot/")
    assert reboot.status_code == 202 and reboot.data["task"] == "rebooting"
    drain()
    assert api.get(f"/api/v1/instances/{launched}/").data["state"] == "running"

    term = api.post(f"/api/v1/instances/{launched}/terminate/")
    assert term.status_code == 202 and term.data["state"] == "shutting-down"
    drain()
    final = api.get(f"/api/v1/instances/{launched}/").data
    assert final["state"] == "terminated" and final["state_code"] == 48 and final["terminated_at"]
    host.refresh_from_db()
    assert (host.vcpus_used, host.memory_mib_used, host.disk_gib_used) == (0, 0, 0)
    assert not Claim.objects.filter(instance__public_id=launched).exists()
    assert ledger_audit() == []
    actions = [e["action"] for e in api.get(f"/api/v1/instances/{launched}/events/?page_size=100").data["results"]]
    for expected in ("instance.stop", "instance.start", "instance.reboot", "instance.terminate"):
        assert expected in actions


@pytest.mark.parametrize("action,state_word", [("start", "running"), ("reboot", "stopped"), ("stop", "stopped")])
def test_forbidden_transition_is_409_with_message(catalog, api, launched, action, state_word):
    if state_word == "stopped":
        api.post(f"/api/v1/instances/{launched}/stop/")
        drain()
    resp = api.post(f"/api/v1/instances/{launched}/{action}/")
    assert resp.status_code == 409
    assert resp.data["code"] == "invalid_state"
    assert launched in resp.data["detail"] and state_word in resp.data["detail"]


def test_action_on_terminated_instance_is_409(catalog, api, launched):
    api.post(f"/api/v1/instances/{launched}/terminate/")
    drain()
    resp = api.post(f"/api/v1/instances/{launched}/terminate/")
    assert resp.status_code == 409 and "terminated" in resp.data["detail"]


def test_busy_instance_refuses_a_second_action(catalog, api, launched):
    assert api.post(f"/api/v1/instances/{launched}/reboot/").status_code == 202
    resp = api.post(f"/api/v1/instances/{launched}/stop/")
    assert resp.status_code == 409 and "busy" in resp.data["detail"]


def test_console_events_and_credentials_once(catalog, api, launched):
    console = api.get(f"/api/v1/instances/{launched}/console/")
    assert console.status_code == 200 and console.data["instance_id"] == launched
    assert "web" in console.data["output"] and len(console.data["output"].splitlines()) > 3
    events = api.get(f"/api/v1/instances/{launched}/events/?page_size=2")
    assert events.data["count"] >= 5 and len(events.data["results"]) == 2
    assert events.data["results"][0]["action"] == "instance.running"  # newest first
    first = api.post(f"/api/v1/instances/{launched}/credentials/")
    assert first.status_code == 200 and first["Cache-Control"] == "no-store"
    assert first.data["username"] == "ubuntu" and len(first.data["password"]) >= 12
    second = api.post(f"/api/v1/instances/{launched}/credentials/").data
    assert second["password"] is None and second["password_already_shown"] is True
    assert api.get(f"/api/v1/instances/{launched}/").data["credentials"]["password_available"] is False


def test_launch_with_key_pair_and_new_rules(catalog, api):
    api.post("/api/v1/keypairs/", {"name": "laptop"}, format="json")
    resp = api.post(INSTANCES, {**BODY, "key_name": "laptop", "rules": [{"protocol": "tcp", "from_port": 80,
                                                                         "to_port": 80}],
                                "security_groups": ["default"], "availability_zone": "sky-1b",
                                "virt_mode": "paravirtualization"}, format="json")
    assert resp.status_code == 202, resp.data
    assert resp.data["key_name"] == "laptop" and resp.data["availability_zone"] == "sky-1b"
    assert resp.data["virt_mode"] == "paravirtualization"
    names = sorted(g["name"] for g in resp.data["security_groups"])
    assert names[0] == "default" and names[1].startswith("launch-wizard-")
    drain()
    data = api.get(f"/api/v1/instances/{resp.data['id']}/").data
    assert data["credentials"]["connect"].startswith("ssh -i laptop.pem ubuntu@")
    assert data["credentials"]["password_available"] is False


# --------------------------------------------------------------------------- validation
BIG = "x" * (16 * 1024 + 1)


@pytest.mark.parametrize("fields,field,words", [
    ({"appliance": "ami-00000000000000000"}, "appliance", "No appliance"),
    ({"appliance": "no-such-slug"}, "appliance", "marketplace"),
    ({"instance_type": "t9.huge"}, "instance_type", "t3.micro"),
    ({"appliance": "windows-server-2019", "instance_type": "t3.micro"}, "instance_type", "below"),
    ({"user_data": BIG}, "user_data", "16 KiB"),
    ({"key_name": "nope"}, "key_name", "does not exist"),
    ({"security_groups": ["sg-0000"]}, "security_groups", "does not exist"),
    ({"virt_mode": "quantum"}, "virt_mode", "Unknown virtualization mode"),
    ({"appliance": "nginx-alpine-container", "virt_mode": "hardware_assisted"}, "virt_mode", "cannot run"),
    ({"availability_zone": "mars-1a"}, "availability_zone", "sky-1a"),
    ({"name": "bad/name"}, "name", "letters"),
    ({"rules": [{"protocol": "gre"}]}, "rules", "protocol"),
    ({"rules": [{"protocol": "tcp", "from_port": 90, "to_port": 80}]}, "rules", "above"),
    ({"rules": [{"cidr": "10.0.0.300/8"}]}, "rules", "CIDR"),
    ({"rules": [{"from_port": "http"}]}, "rules", "valid integer"),
    ({"rules": "tcp/22"}, "rules", "list"),
    ({"security_groups": "web"}, "security_groups", "list"),
    ({"instance-type": "t3.small"}, "instance-type", "Unknown field"),
])
def test_bad_input_is_400_naming_the_field_and_leaves_nothing(catalog, api, fields, field, words):
    before = counts()
    resp = api.post(INSTANCES, {**BODY, **fields}, format="json")
    assert resp.status_code == 400, resp.data
    assert field in resp.data, resp.data
    assert words in str(resp.data[field]), resp.data
    assert resp.data["code"] == "invalid_request"
    assert counts() == before and before["instances"] == before["claims"] == before["reservations"] == 0
    assert ledger_audit() == []


def test_missing_required_fields_are_named(catalog, api):
    resp = api.post("/api/v1/instances/", {}, format="json")
    assert resp.status_code == 400 and {"appliance", "instance_type"} <= set(resp.data)


def test_several_bad_fields_are_named_at_once(catalog, api):
    resp = api.post(INSTANCES, {"appliance": "nothing", "instance_type": "t9.huge", "user_data": BIG}, format="json")
    assert resp.status_code == 400
    assert {"appliance", "instance_type", "user_data"} <= set(resp.data)


def test_malformed_json_and_wrong_body_type_are_400(catalog, api):
    resp = api.post("/api/v1/instances/", "{not json", content_type="application/json")
    assert resp.status_code == 400 and resp.data["code"] == "parse_error"
    listy = api.post("/api/v1/instances/", [1, 2], format="json")
    assert listy.status_code == 400 and "non_field_errors" in listy.data
    assert counts()["instances"] == 0


def test_insufficient_capacity_is_409_with_explanation_and_event(catalog, api):
    Host.objects.update(state="maintenance")
    resp = api.post(INSTANCES, BODY, format="json")
    assert resp.status_code == 409 and resp.data["code"] == "insufficient_capacity"
    assert "maintenance" in resp.data["detail"]
    assert resp.data["explanation"]["filters"]
    assert counts()["instances"] == 0 and counts()["reservations"] == 0
    events = api.get("/api/v1/instances/")  # nothing listed
    assert events.data["count"] == 0
    from provisioning.models import Event

    assert Event.objects.filter(action="request.refused", level="error").exists()



def test_unknown_instance_id_is_404_json(catalog, api):
    resp = api.get("/api/v1/instances/i-does-not-exist/")
    assert resp.status_code == 404 and "i-does-not-exist" in resp.data["detail"]


# --------------------------------------------------------------------------- robustness: never a 500
WEIRD_BODIES = [
    {"appliance": None, "instance_type": None},
    {"appliance": {"x": 1}, "instance_type": ["t3.small"]},
    {"appliance": 123, "instance_type": 4.5},
    {"min_count": 10**30},
    {"security_groups": [None]},
    {"security_groups": [{"id": "sg-1"}]},
    {"rules": [None]},
    {"rules": [{"protocol": None}]},
    {"rules": {"protocol": "tcp"}},
    {"name": 5, "user_data": ["a"]},
    {"key_name": "a\x00b"},
    {"appliance": "ubuntu-lamp\x00"},
    {"availability_zone": "x" * 5000, "placement_group": "y" * 5000, "name": "z" * 5000},
]


@pytest.mark.parametrize("extra", WEIRD_BODIES)
@pytest.mark.parametrize("path", ["/api/v1/instances/", "/api/v1/reservations/"])
def test_weird_bodies_are_4xx_never_500(catalog, api, path, extra):
    body = {"appliance": "ubuntu-lamp", "instance_type": "t3.small", **extra}
    resp = api.post(path, body, format="json")
    assert 400 <= resp.status_code < 500, (resp.status_code, getattr(resp, "data", None))
    assert counts()["instances"] == 0


@pytest.mark.parametrize("url", [
    "/api/v1/instances/a%00b/", "/api/v1/keypairs/a%00b/", "/api/v1/security-groups/a%00b/",
    "/api/v1/appliances/a%00b/", "/api/v1/instance-types/a%00b/", "/api/v1/reservations/a%00b/",
    "/api/v1/appliances/?q=a%00b", "/api/v1/instances/?q=a%00b", "/api/v1/appliances/?category=a%00b",
    "/api/v1/instances/?state=%00", "/api/v1/appliances/?page=abc", "/api/v1/appliances/?page_size=-1",
    "/api/v1/appliances/?ordering=nonsense",
])
def test_weird_urls_are_never_500(catalog, api, url):
    resp = api.get(url)
    assert resp.status_code < 500, (url, resp.status_code)


def test_weird_idempotency_key_and_user_path(catalog, api, staff_user):
    resp = api.post("/api/v1/instances/", {"appliance": "ubuntu-lamp", "instance_type": "t3.small"}, format="json",
                    HTTP_IDEMPOTENCY_KEY="a\tb")
    assert resp.status_code == 400
    from rest_framework.test import APIClient

    staff = APIClient()
    staff.force_authenticate(staff_user)
    assert staff.get("/api/v1/users/a%00b/quota/").status_code == 404
