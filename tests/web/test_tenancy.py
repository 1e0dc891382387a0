"""Tenancy on the web surface, every page, action and htmx partial of each owned resource (tests.kit)."""
from __future__ import annotations

import pytest

from tests import kit
from tests.factories import access_key_factory, keypair_factory, running_instance_factory

from .conftest import launch_data

pytestmark = pytest.mark.django_db


class TestInstancesOnWeb(kit.OwnedResourceCases):
    surface = kit.WEB
    create = staticmethod(lambda user: running_instance_factory(user, name="kit-box"))
    lists = (kit.Call("get", "/instances/"), kit.Call("get", "/instances/", htmx=True),
             kit.Call("get", "/instances/?q={name}", htmx=True))
    calls = (kit.Call("get", "/instances/{id}/"),
             kit.Call("get", "/instances/{id}/progress/", htmx=True),
             kit.Call("post", "/instances/{id}/credentials/", htmx=True),
             kit.Call("post", "/instances/{id}/credentials/"),
             *(kit.Call("post", f"/instances/{{id}}/actions/{action}/", {"confirm": "yes"})
               for action in ("stop", "start", "reboot", "terminate")))


class TestKeyPairsOnWeb(kit.OwnedResourceCases):
    surface = kit.WEB
    create = staticmethod(lambda user: keypair_factory(user, "kit-key"))
    other_owns = staticmethod(lambda other: keypair_factory(other, "bobs-key"))
    lists = (kit.Call("get", "/keypairs/"),)
    calls = (kit.Call("post", "/keypairs/{id}/delete/"), kit.Call("get", "/keypairs/{id}/download/"))
    uses = (kit.Use(kit.Call("post", "/appliances/ubuntu-lamp/launch/",
                             launch_data(key_mode="existing", key_name="{name}")), "key_name"),)


class TestAccessKeysOnWeb(kit.OwnedResourceCases):
    surface = kit.WEB
    create = staticmethod(lambda user: access_key_factory(user, "kit laptop"))
    refs = staticmethod(lambda key: {"id": key.access_key_id})
    lists = (kit.Call("get", "/access-keys/"),)
    calls = (kit.Call("post", "/access-keys/{id}/revoke/"),)
