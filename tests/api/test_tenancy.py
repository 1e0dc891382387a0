"""Tenancy on the REST surface: each owned resource's list, detail and actions (tests.kit)."""
from __future__ import annotations

import pytest

from provisioning.services.quotas import quota_set
from tests import kit
from tests.factories import (
    access_key_factory,
    keypair_factory,
    reservation_factory,
    running_instance_factory,
    security_group_factory,
)

from .conftest import BODY, INSTANCES

pytestmark = pytest.mark.django_db


class TestInstancesOnRest(kit.OwnedResourceCases):
    surface = kit.REST
    create = staticmethod(lambda user: running_instance_factory(user, name="kit-box"))
    lists = (kit.Call("get", INSTANCES),)
    calls = (kit.Call("get", INSTANCES + "{id}/"),
             *(kit.Call("post", INSTANCES + f"{{id}}/{action}/")
               for action in ("stop", "start", "reboot", "terminate", "credentials")),
             kit.Call("get", INSTANCES + "{id}/console/"), kit.Call("get", INSTANCES + "{id}/events/"))


class TestReservationsOnRest(kit.OwnedResourceCases):
    surface = kit.REST
    create = staticmethod(lambda user: reservation_factory(user, appliance="debian-12", instance_type="t3.nano"))
    refs = staticmethod(lambda reservation: {"id": reservation.public_id})
    lists = (kit.Call("get", "/api/v1/reservations/"),)
    calls = (kit.Call("get", "/api/v1/reservations/{id}/"),)


class TestKeyPairsOnRest(kit.OwnedResourceCases):
    surface = kit.REST
    create = staticmethod(lambda user: keypair_factory(user, "kit-key"))
    lists = (kit.Call("get", "/api/v1/keypairs/"),)
    calls = kit.each_ref("/api/v1/keypairs/{ref}/", "get", "delete")
    uses = (kit.Use(kit.Call("post", INSTANCES, {**BODY, "key_name": "{name}"}), "key_name"),)


class TestSecurityGroupsOnRest(kit.OwnedResourceCases):
    surface = kit.REST
    create = staticmethod(lambda user: security_group_factory(user, "kit-sg"))
    lists = (kit.Call("get", "/api/v1/security-groups/"),)
    calls = kit.each_ref("/api/v1/security-groups/{ref}/", "get", "delete")
    uses = tuple(kit.Use(kit.Call("post", INSTANCES, {**BODY, "security_groups": [ref]}), "security_groups")
                 for ref in ("{id}", "{name}"))


class TestAccessKeysOnRest(kit.OwnedResourceCases):
    surface = kit.REST
    create = staticmethod(lambda user: access_key_factory(user, "kit laptop"))
    refs = staticmethod(lambda key: {"id": key.access_key_id})
    lists = (kit.Call("get", "/api/v1/access-keys/"),)
    calls = (kit.Call("get", "/api/v1/access-keys/{id}/"), kit.Call("delete", "/api/v1/access-keys/{id}/"))


class TestQuotasOnRest(kit.OwnedResourceCases):
    """A user's quota: only staff read or set it (another user gets 403, not someone's numbers)."""

    surface = kit.REST
    create = staticmethod(lambda user: quota_set(user=user, instances=7, vcpus=14, memory_mib=7 * 1024))
    refs = staticmethod(lambda quota: {"name": quota.user.username})
    refused = 403
    admitted = "staff_user"
    calls = (kit.Call("get", "/api/v1/users/{name}/quota/"),
             kit.Call("put", "/api/v1/users/{name}/quota/", {"instances": 99, "vcpus": 99, "memory_mib": 99999}))
