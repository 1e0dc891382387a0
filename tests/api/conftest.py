"""Helpers for the REST API tests (the domain fixtures come from tests.fixtures_domain)."""
from __future__ import annotations

import pytest

from provisioning.models import Claim, Instance, KeyPair, Reservation, SecurityGroup

INSTANCES = "/api/v1/instances/"
BODY = {"appliance": "ubuntu-lamp", "instance_type": "t3.small"}  # a launch request that is accepted


def counts() -> dict[str, int]:
    return {
        "instances": Instance.objects.count(),
        "claims": Claim.objects.count(),
        "reservations": Reservation.objects.count(),
        "keypairs": KeyPair.objects.count(),
        "security_groups": SecurityGroup.objects.count(),
    }


@pytest.fixture
def launched(catalog, user):
    """The public id of a running instance of alice's (pipeline drained)."""
    from tests.factories import running_instance_factory

    return running_instance_factory(user, name="web").public_id
