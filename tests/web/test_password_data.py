"""An instance whose password is kept encrypted to its RSA key pair shows that text and how to decrypt it."""
from __future__ import annotations

from provisioning.models import Instance
from provisioning.services.keypairs import keypair_create
from tests.factories import instance_factory
from tests.fixtures_domain import drain


def test_instance_page_shows_the_encrypted_password(client, user, catalog):
    keypair_create(user=user, name="admin", key_type="rsa")
    (inst,) = instance_factory(user, appliance="windows-server-2019", instance_type="m5.large", key_name="admin")
    drain()
    client.force_login(user)
    page = client.get(f"/instances/{inst.public_id}/").content.decode()
    data = Instance.objects.get(pk=inst.pk).password_data
    assert data and data in page and "--priv-launch-key admin.pem" in page
    assert 'id="reveal-password"' not in page  # nothing to reveal: Skyport cannot read it
