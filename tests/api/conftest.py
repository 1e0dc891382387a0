"""Helpers for the REST API tests (the domain fixtures come from tests.fixtures_domain)."""
from __future__ import annotations

import pytest

from provisioning.models import Claim, Instance, KeyPair, Reservation, SecurityGroup


def launch(api, **fields):
    """POST /api/v1/instances/ with sensible defaults; returns the response."""
    body = {"appliance": "ubuntu-lamp", "instance_type": "t3.small", **fields}
    return api.post("/api/v1/instances/", body, format="json")


def counts() -> dict[str, int]:
    return {
        "instances": Instance.objects.count(),
        "claims": Claim.objects.count(),
        "reservations": Reservation.objects.count(),
        "keypairs": KeyPair.objects.count(),
        "security_groups": SecurityGroup.objects.count(),
    }


@pytest.fixture
def launched(catalog, api):
    """A running instance of alice's (launched over the API, pipeline drained)."""
    from tests.fixtures_domain import drain

    resp = launch(api, name="web")
    assert resp.status_code == 202, resp.data
    drain()
    return resp.data["id"]
