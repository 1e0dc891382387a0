"""Console test helpers: clients signed in as staff and as a tenant, a synthetic fleet."""
from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture
def staff(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def tenant(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def small_fleet(db):
    """10 hosts with 30 running instances of synthetic tenants (provisioning.fixtures.fleet)."""
    from provisioning.fixtures.fleet import fleet_build

    return fleet_build(hosts=10, instances=30, prefix="sm", seed=3)
