"""Key pairs and security groups over REST: private key shown once, import, validation (tenancy: test_tenancy)."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from provisioning.models import KeyPair, SecurityGroup
from tests.factories import instance_factory, public_key_factory
from tests.fixtures_domain import drain

pytestmark = pytest.mark.django_db


def test_created_key_pair_returns_private_key_only_once(api):
    resp = api.post("/api/v1/keypairs/", {"name": "laptop"}, format="json")
    assert resp.status_code == 201 and resp["Cache-Control"] == "no-store"
    pem = resp.data["private_key"]
    assert pem.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    private = serialization.load_ssh_private_key(pem.encode(), password=None)
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
    assert resp.data["public_key"].startswith(public)
    assert resp.data["id"].startswith("key-") and resp.data["fingerprint"].startswith("SHA256:")
    listing = api.get("/api/v1/keypairs/")
    assert listing.data["count"] == 1 and "private_key" not in listing.data["results"][0]
    for ref in ("laptop", resp.data["id"]):
        detail = api.get(f"/api/v1/keypairs/{ref}/")
        assert detail.status_code == 200 and "private_key" not in detail.data
    assert pem not in str(KeyPair.objects.values().get())  # never stored


def test_rsa_key_type_and_bad_key_type(api):
    rsa = api.post("/api/v1/keypairs/", {"name": "old", "key_type": "rsa"}, format="json")
    assert rsa.status_code == 201 and rsa.data["key_type"] == "rsa"
    bad = api.post("/api/v1/keypairs/", {"name": "x", "key_type": "dsa"}, format="json")
    assert bad.status_code == 400 and "key_type" in bad.data


def test_import_public_key(api):
    pub = public_key_factory()
    resp = api.post("/api/v1/keypairs/", {"name": "imported", "public_key": pub + " me@laptop"}, format="json")
    assert resp.status_code == 201 and resp.data["private_key"] is None
    assert resp.data["key_type"] == "ed25519" and resp.data["public_key"].startswith(pub)


@pytest.mark.parametrize("body,field", [
    ({"name": "k", "public_key": "ssh-rsa not-base64"}, "public_key"),
    ({"name": "k", "public_key": "hello world"}, "public_key"),
    ({"name": "k", "public_key": "ssh-foo AAAAB3NzaC1yc2E="}, "public_key"),  # unsupported type: the service says so
    ({"name": ""}, "name"),
    ({"name": "bad\nname"}, "name"),
    ({}, "name"),
    ({"name": "k", "private_key": "x"}, "private_key"),
])
def test_bad_key_pair_input_is_400_and_leaves_nothing(api, body, field):
    resp = api.post("/api/v1/keypairs/", body, format="json")
    assert resp.status_code == 400 and field in resp.data, resp.data
    assert KeyPair.objects.count() == 0


def test_duplicate_key_name_is_400(api):
    api.post("/api/v1/keypairs/", {"name": "laptop"}, format="json")
    resp = api.post("/api/v1/keypairs/", {"name": "laptop", "public_key": public_key_factory()}, format="json")
    assert resp.status_code == 400 and "already" in resp.data["name"][0]
    assert KeyPair.objects.count() == 1


def test_delete_key_pair(api):
    kid = api.post("/api/v1/keypairs/", {"name": "laptop"}, format="json").data["id"]
    assert api.delete(f"/api/v1/keypairs/{kid}/").status_code == 204
    assert api.get(f"/api/v1/keypairs/{kid}/").status_code == 404
    assert api.delete("/api/v1/keypairs/laptop/").status_code == 404




# --------------------------------------------------------------------------- security groups
RULES = [{"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"},
         {"protocol": "icmp", "cidr": "10.0.0.0/8"},
         {"protocol": "udp", "port": 53, "cidr": "192.0.2.7/32", "description": "dns"}]


def test_security_group_create_list_detail_delete(api):
    resp = api.post("/api/v1/security-groups/", {"name": "web", "description": "HTTP", "rules": RULES},
                    format="json")
    assert resp.status_code == 201, resp.data
    assert resp.data["id"].startswith("sg-") and resp.data["name"] == "web"
    rules = resp.data["rules"]
    assert [(r["protocol"], r["from_port"], r["to_port"], r["cidr"]) for r in rules] == [
        ("tcp", 80, 80, "0.0.0.0/0"), ("icmp", -1, -1, "10.0.0.0/8"), ("udp", 53, 53, "192.0.2.7/32")]
    assert api.get("/api/v1/security-groups/").data["count"] == 1
    assert api.get(f"/api/v1/security-groups/{resp.data['id']}/").data["name"] == "web"
    assert api.get("/api/v1/security-groups/web/").data["id"] == resp.data["id"]
    assert api.delete("/api/v1/security-groups/web/").status_code == 204
    assert SecurityGroup.objects.count() == 0


@pytest.mark.parametrize("rule,words", [
    ({"protocol": "gre"}, "protocol"),
    ({"from_port": 70000}, "between 0 and 65535"),
    ({"cidr": "everywhere"}, "CIDR"),
    ({"protocol": "tcp", "from_port": 443, "to_port": 80}, "above"),
    ({"prot": "tcp"}, "Unknown field"),
])
def test_bad_rule_is_400_naming_rules_and_leaves_nothing(api, rule, words):
    resp = api.post("/api/v1/security-groups/", {"name": "web", "rules": [RULES[0], rule]}, format="json")
    assert resp.status_code == 400 and "rules" in resp.data, resp.data
    assert words in str(resp.data["rules"])
    assert SecurityGroup.objects.count() == 0


def test_bad_rule_names_its_index(api):
    resp = api.post("/api/v1/security-groups/", {"name": "web", "rules": [RULES[0], {"cidr": "nope"}]},
                    format="json")
    assert "rules[1]" in str(resp.data["rules"])


def test_security_group_name_rules(api):
    assert api.post("/api/v1/security-groups/", {"name": ""}, format="json").data["name"]
    api.post("/api/v1/security-groups/", {"name": "web"}, format="json")
    dup = api.post("/api/v1/security-groups/", {"name": "web"}, format="json")
    assert dup.status_code == 400 and "already" in dup.data["name"][0]


def test_security_group_in_use_or_default_cannot_be_deleted(catalog, api, user):
    api.post("/api/v1/security-groups/", {"name": "web", "rules": RULES}, format="json")
    inst = instance_factory(user, security_groups=["web"])[0].public_id
    drain()
    busy = api.delete("/api/v1/security-groups/web/")
    assert busy.status_code == 409 and inst in busy.data["detail"]
    api.post(f"/api/v1/instances/{inst}/terminate/")
    drain()
    assert api.delete("/api/v1/security-groups/web/").status_code == 204
    instance_factory(user)  # creates `default`
    assert api.delete("/api/v1/security-groups/default/").status_code == 409
