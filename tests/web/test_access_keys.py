"""The access keys page: create (the secret shown once, in that answer), list, revoke."""
from __future__ import annotations

from provisioning.crypto import unseal
from provisioning.models import AccessKey


def test_create_shows_the_secret_once_then_only_the_id(client, user):
    client.force_login(user)
    assert client.get("/access-keys/").status_code == 200
    resp = client.post("/access-keys/", {"description": "laptop", "read_only": "on"})
    assert resp.status_code == 200 and resp["Cache-Control"] == "no-store"
    key = AccessKey.objects.get(owner=user)
    secret = unseal(key.secret_sealed)
    page = resp.content.decode()
    assert key.access_key_id in page and secret in page and key.read_only
    again = client.get("/access-keys/").content.decode()
    assert key.access_key_id in again and secret not in again and "laptop" in again


def test_revoke(client, user):  # tenancy: test_tenancy.TestAccessKeysOnWeb
    client.force_login(user)
    client.post("/access-keys/", {"description": "x"})
    key = AccessKey.objects.get(owner=user)
    resp = client.post(f"/access-keys/{key.access_key_id}/revoke/")
    assert resp.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.secret_sealed == ""
    assert "Revoked" in client.get("/access-keys/").content.decode()


def test_the_page_needs_a_login(client):
    assert client.get("/access-keys/").status_code == 302
