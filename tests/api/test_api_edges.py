"""Edges the QA pass found: every API error is JSON, including paths that match no endpoint
(Django's own 404 page is HTML and, in debug mode, lists every URL pattern); text fields take text."""
from __future__ import annotations

import pytest

from provisioning.models import Instance

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_an_unknown_api_path_is_a_json_404(api, method):
    r = getattr(api, method)("/api/v1/nonexistent/")
    assert r.status_code == 404 and r["Content-Type"] == "application/json"
    assert r.json()["code"] == "not_found" and "/api/docs/" in r.json()["detail"]


def test_a_missing_trailing_slash_is_named(api):
    r = api.post("/api/v1/instances", {"appliance": "debian-12"}, format="json")
    assert r.status_code == 404 and r.json()["detail"].endswith("API paths end with a slash, /api/v1/instances/")


def test_a_key_pair_whose_name_holds_a_slash_is_reached_by_its_id(api, catalog):
    made = api.post("/api/v1/keypairs/", {"name": "team/laptop", "key_type": "ed25519"}, format="json")
    assert made.status_code == 201, made.json()
    by_name = api.get("/api/v1/keypairs/team%2Flaptop/")
    assert by_name.status_code == 404 and "addressed by its id" in by_name.json()["detail"]
    assert api.get(f"/api/v1/keypairs/{made.json()['id']}/").json()["name"] == "team/laptop"


@pytest.mark.parametrize("field, value, words", [
    ("name", 5, "not a number"),
    ("user_data", 123, "not a number"),
    ("appliance", ["debian-12"], "not a list"),
    ("virt_mode", True, "not true/false"),
])
def test_text_fields_take_text_only(api, catalog, field, value, words):
    """DRF would quietly turn 5 into "5"; an instance must not run user data the client never wrote."""
    body = {"appliance": "debian-12", "instance_type": "t3.small", field: value}
    r = api.post("/api/v1/instances/", body, format="json")
    assert r.status_code == 400 and words in r.json()[field][0], r.json()
    assert Instance.objects.count() == 0
