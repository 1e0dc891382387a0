"""Token auth, the marketplace (filters, search, pagination) and instance types."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_token_flow_and_token_header(catalog, user):
    client = APIClient()
    assert client.get("/api/v1/appliances/").status_code == 401
    bad = client.post("/api/v1/auth/token/", {"username": "alice", "password": "nope"}, format="json")
    assert bad.status_code == 400 and bad.data["code"] == "invalid_request"
    resp = client.post("/api/v1/auth/token/", {"username": "alice", "password": "alice-pass-123"}, format="json")
    assert resp.status_code == 200
    token = resp.data["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/appliances/").status_code == 200
    # each call issues another token; revoking one (an API client's log out) leaves the other working
    again = APIClient().post("/api/v1/auth/token/", {"username": "alice", "password": "alice-pass-123"}, format="json")
    assert again.status_code == 200 and again.data["token"] != token and again.data["expires_at"]
    assert client.delete("/api/v1/auth/token/").status_code == 204
    assert client.get("/api/v1/appliances/").status_code == 401
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {again.data['token']}")
    assert other.get("/api/v1/appliances/").status_code == 200


def test_unauthenticated_error_has_code(catalog):
    resp = APIClient().get("/api/v1/instances/")
    assert resp.status_code == 401
    assert resp.data["code"] == "not_authenticated" and resp.data["detail"]


def test_session_auth_works(catalog, user, client):
    client.force_login(user)
    assert client.get("/api/v1/instance-types/").status_code == 200


def test_appliance_list_is_paginated_with_ids(catalog, api):
    resp = api.get("/api/v1/appliances/?page_size=5")
    assert resp.status_code == 200
    assert set(resp.data) == {"count", "next", "previous", "results"}
    assert resp.data["count"] >= 12 and len(resp.data["results"]) == 5
    assert resp.data["next"] and resp.data["previous"] is None
    first = resp.data["results"][0]
    assert first["id"].startswith("ami-") and first["slug"] and first["name"]
    for field in ("os_family", "architecture", "min_vcpus", "min_memory_mib", "supported_modes", "image_size_mib"):
        assert field in first
    page2 = api.get(resp.data["next"])
    assert page2.status_code == 200 and page2.data["previous"]
    assert {a["id"] for a in page2.data["results"]}.isdisjoint({a["id"] for a in resp.data["results"]})


def test_appliance_filters_and_search(catalog, api):
    windows = api.get("/api/v1/appliances/?os_family=windows").data["results"]
    assert windows and all(a["os_family"] == "windows" for a in windows)
    i386 = api.get("/api/v1/appliances/?architecture=i386").data["results"]
    assert {a["slug"] for a in i386} >= {"windows-server-2003", "suse-sles-11-32"}
    containers = api.get("/api/v1/appliances/?virt_mode=container").data["results"]
    assert containers and all("container" in a["supported_modes"] for a in containers)
    web = api.get("/api/v1/appliances/?category=WEB").data["results"]
    assert web and all(a["category"] == "web" for a in web)
    lamp = api.get("/api/v1/appliances/?q=lamp").data["results"]
    assert "ubuntu-lamp" in {a["slug"] for a in lamp}
    assert api.get("/api/v1/appliances/?search=wordpress").data["results"][0]["slug"] == "wordpress"
    assert api.get("/api/v1/appliances/?q=no-such-thing").data["count"] == 0


def test_bad_filter_value_is_400_naming_it(catalog, api):
    resp = api.get("/api/v1/appliances/?os_family=amiga")
    assert resp.status_code == 400 and "os_family" in resp.data


def test_appliance_detail_by_ami_id_or_slug(catalog, api):
    by_slug = api.get("/api/v1/appliances/ubuntu-lamp/")
    assert by_slug.status_code == 200
    by_id = api.get(f"/api/v1/appliances/{by_slug.data['id']}/")
    assert by_id.status_code == 200 and by_id.data["slug"] == "ubuntu-lamp"
    missing = api.get("/api/v1/appliances/ami-00000000000000000/")
    assert missing.status_code == 404 and missing.data["code"] == "not_found"


def test_instance_types(catalog, api):
    resp = api.get("/api/v1/instance-types/")
    assert resp.status_code == 200
    row = next(r for r in resp.data["results"] if r["name"] == "t3.micro")
    assert {"name", "vcpus", "memory_mib", "disk_gib"} <= set(row)
    assert api.get("/api/v1/instance-types/t3.micro/").data["vcpus"] == row["vcpus"]
    assert api.get("/api/v1/instance-types/t9.nothing/").status_code == 404
