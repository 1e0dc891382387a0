"""QA findings on the REST API: hostile bodies get a JSON 4xx naming the problem, never a 500."""
from __future__ import annotations

import json

import pytest
from django.test import override_settings

from tests.api.conftest import counts

pytestmark = pytest.mark.django_db

BODY = {"appliance": "ubuntu-lamp", "instance_type": "t3.small"}


def _deep(levels: int) -> str:
    return json.dumps({**BODY}).replace('"ubuntu-lamp"', "[" * levels + "]" * levels)


@pytest.mark.parametrize("path", ["/api/v1/instances/", "/api/v1/reservations/", "/api/v1/keypairs/",
                                  "/api/v1/security-groups/"])
def test_deeply_nested_json_is_a_400_not_a_500(catalog, api, path):
    before = counts()
    resp = api.generic("POST", path, _deep(20_000), content_type="application/json")
    assert resp.status_code == 400, resp.content[:200]
    assert resp.json() == {"code": "parse_error", "detail": "JSON parse error - the document is nested too deeply."}
    assert counts() == before


def test_deeply_nested_json_on_the_token_endpoint_is_a_400(client, user):
    resp = client.generic("POST", "/api/v1/auth/token/", '{"username":' + "[" * 20_000 + "]" * 20_000 + "}",
                          content_type="application/json")
    assert resp.status_code == 400 and resp.json()["code"] == "parse_error"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_a_body_over_the_upload_limit_is_a_json_413(catalog, api):
    before = counts()
    resp = api.post("/api/v1/instances/", {**BODY, "user_data": "x" * 4096}, format="json")
    assert resp.status_code == 413
    assert resp["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["code"] == "request_too_large" and "1024 bytes" in body["detail"]
    assert counts() == before


def test_thousands_of_rules_are_refused_and_nothing_is_created(catalog, api):
    before = counts()
    resp = api.post("/api/v1/instances/", {**BODY, "rules": [{"port": 22}] * 61}, format="json")
    assert resp.status_code == 400
    assert resp.data["rules"] == ["At most 60 rules per security group."]
    assert counts() == before
    ok = api.post("/api/v1/instances/", {**BODY, "rules": [{"port": p} for p in range(1000, 1060)]}, format="json")
    assert ok.status_code == 202, ok.data


def test_a_security_group_with_too_many_rules_is_refused(catalog, api):
    resp = api.post("/api/v1/security-groups/", {"name": "big", "rules": [{"port": 80}] * 61}, format="json")
    assert resp.status_code == 400 and resp.data["rules"] == ["At most 60 rules per security group."]


def test_thousands_of_security_group_refs_are_refused_quickly(catalog, api, django_assert_max_num_queries):
    with django_assert_max_num_queries(5):  # refused by the serializer, before one lookup per entry
        resp = api.post("/api/v1/instances/", {**BODY, "security_groups": ["x"] * 5000}, format="json")
    assert resp.status_code == 400
    assert resp.data["security_groups"] == ["At most 16 security groups per instance."]


def test_the_same_security_group_twice_is_fine(catalog, api):
    resp = api.post("/api/v1/instances/", {**BODY, "security_groups": ["default", "default"]}, format="json")
    assert resp.status_code == 202, resp.data
    assert [g["name"] for g in resp.data["security_groups"]] == ["default"]
