"""Generated passwords never rest in clear: sealed (reveal once) or encrypted to an RSA key pair."""
from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding

from provisioning.models import Instance
from provisioning.services import instances as svc
from provisioning.services.keypairs import keypair_create
from tests.factories import instance_factory
from tests.fixtures_domain import drain


def test_password_without_key_pair_is_sealed_and_revealed_once(catalog, user):
    (inst,) = instance_factory(user, appliance="windows-server-2019", instance_type="m5.large")
    drain()
    stored = Instance.objects.get(pk=inst.pk)
    assert stored.initial_password and stored.password_data == ""
    first = svc.instance_credentials(user=user, instance=stored)
    assert first["password"] and first["password"] not in stored.initial_password
    assert Instance.objects.get(pk=inst.pk).initial_password == ""
    assert svc.instance_credentials(user=user, instance=stored)["password"] is None


def test_password_with_rsa_key_pair_is_only_kept_encrypted_to_it(catalog, user):
    created = keypair_create(user=user, name="admin", key_type="rsa")
    private = serialization.load_ssh_private_key(created.private_key_pem.encode(), password=None)
    (inst,) = instance_factory(user, appliance="windows-server-2019", instance_type="m5.large", key_name="admin")
    drain()
    stored = Instance.objects.get(pk=inst.pk)
    assert stored.initial_password == ""
    password = private.decrypt(base64.b64decode(stored.password_data), padding.PKCS1v15()).decode()
    assert len(password) >= 12
    creds = svc.instance_credentials(user=user, instance=stored)
    assert creds["password"] is None and creds["password_data"] == stored.password_data


def test_ed25519_key_pair_cannot_encrypt_so_the_password_is_sealed(catalog, user):
    keypair_create(user=user, name="ed", key_type="ed25519")
    (inst,) = instance_factory(user, appliance="windows-server-2019", instance_type="m5.large", key_name="ed")
    drain()
    stored = Instance.objects.get(pk=inst.pk)
    assert stored.password_data == "" and stored.initial_password.startswith("gAAAA")
