"""Web test helpers: a logged-in Django test client and an OpenSSH public key to import."""
from __future__ import annotations

import pytest

from tests.factories import public_key_factory


@pytest.fixture
def web(client, user):
    """The Django test client, logged in as alice."""
    client.force_login(user)
    return client


@pytest.fixture
def web_other(client, other_user):
    """The Django test client, logged in as bob."""
    client.force_login(other_user)
    return client


@pytest.fixture
def public_key() -> str:
    return public_key_factory("me@laptop")


def launch_data(**overrides) -> dict:
    """A valid request-form POST (a new key pair is not created unless asked)."""
    data = {
        "instance_type": "t3.small", "name": "", "count": "1", "key_mode": "none",
        "rule_protocol": ["tcp"], "rule_ports": ["22"], "rule_cidr": ["0.0.0.0/0"], "user_data": "",
    }
    data.update(overrides)
    return data
