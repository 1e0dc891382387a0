"""REST: access keys (the secret once, sealed at rest, revocable) and instance tags in the REST views."""
from __future__ import annotations

from provisioning.crypto import unseal
from provisioning.models import AccessKey
from provisioning.services.tags import tags_set
from tests.factories import instance_factory


def test_create_shows_the_secret_once_and_keeps_it_sealed(api, user):
    resp = api.post("/api/v1/access-keys/", {"description": "laptop"}, format="json")
    assert resp.status_code == 201 and resp["Cache-Control"] == "no-store"
    key_id, secret = resp.data["id"], resp.data["secret_access_key"]
    assert key_id.startswith("AKIA") and len(key_id) == 20 and len(secret) == 40
    stored = AccessKey.objects.get(access_key_id=key_id)
    assert secret not in stored.secret_sealed and unseal(stored.secret_sealed) == secret
    listed = api.get("/api/v1/access-keys/").data["results"]
    assert [(k["id"], k["status"], k["description"]) for k in listed] == [(key_id, "Active", "laptop")]
    assert "secret_access_key" not in api.get(f"/api/v1/access-keys/{key_id}/").data


def test_revoke(api, user):  # tenancy: test_tenancy.TestAccessKeysOnRest
    key_id = api.post("/api/v1/access-keys/", {"read_only": True}, format="json").data["id"]
    assert api.delete(f"/api/v1/access-keys/{key_id}/").status_code == 204
    detail = api.get(f"/api/v1/access-keys/{key_id}/").data
    assert detail["status"] == "Inactive" and detail["read_only"] is True and detail["revoked_at"]
    assert AccessKey.objects.get(access_key_id=key_id).secret_sealed == ""


def test_instances_show_and_filter_by_tags(api, user, catalog):
    a, b = instance_factory(user, 2, appliance="debian-12", instance_type="t3.micro", tags={"env": "prod"})
    tags_set(user=user, instances=[a], tags={"role": "web"})
    detail = api.get(f"/api/v1/instances/{a.public_id}/").data
    assert detail["tags"] == {"env": "prod", "role": "web"}
    ids = lambda q: sorted(i["id"] for i in api.get(f"/api/v1/instances/?{q}").data["results"])  # noqa: E731
    assert ids("tag=role") == [a.public_id]
    assert ids("tag=role=web") == [a.public_id]
    assert ids("tag=env=prod") == sorted([a.public_id, b.public_id])
    assert ids("tag=role=db") == []


def test_web_instance_page_shows_tags(client, user, catalog):
    (inst,) = instance_factory(user, appliance="debian-12", instance_type="t3.micro", tags={"team": "blue"})
    client.force_login(user)
    page = client.get(f"/instances/{inst.public_id}/").content.decode()
    assert "team=blue" in page
