"""The staff API through the tenancy kit: another (non-staff) user gets 403 on every call and the
object is unchanged; an anonymous caller must log in (401); a staff user's same call reaches it.
(test_staff_api.py also walks every /api/v1/staff/ path of the OpenAPI schema with a tenant token.)"""
from __future__ import annotations

import pytest

from provisioning.models import Host
from provisioning.services.balancing import balancing_policy_set
from provisioning.services.migrations import migration_start
from tests import kit
from tests.factories import running_instance_factory

pytestmark = pytest.mark.django_db
STAFF = "/api/v1/staff/"


class StaffOnly:
    """Staff-only resources: the other user is refused with 403, the staff user is admitted."""

    surface = kit.REST
    refused = 403
    admitted = "staff_user"


class TestStaffInstancesOnRest(StaffOnly, kit.OwnedResourceCases):
    create = staticmethod(lambda user: running_instance_factory(user, name="kit-box"))
    calls = (kit.Call("get", STAFF + "instances/{id}/"),
             *(kit.Call("post", STAFF + f"instances/{{id}}/{action}/") for action in ("stop", "terminate", "migrate")))


class TestStaffHostsOnRest(StaffOnly, kit.OwnedResourceCases):
    create = staticmethod(lambda user: (running_instance_factory(user), Host.objects.get(name="hv-03"))[1])
    refs = staticmethod(lambda host: {"id": host.name, "name": host.name})
    calls = (kit.Call("get", STAFF + "hosts/{name}/"), kit.Call("get", STAFF + "hosts/{name}/preflight/"),
             kit.Call("post", STAFF + "hosts/{name}/maintenance/", {"note": "kit"}),
             kit.Call("post", STAFF + "hosts/{name}/maintenance/cancel/"),
             kit.Call("post", STAFF + "hosts/{name}/maintenance/exit/"),
             kit.Call("post", STAFF + "hosts/{name}/hypervisor-upgrade/", {"version": "9.0"}))


class TestStaffMigrationsOnRest(StaffOnly, kit.OwnedResourceCases):
    create = staticmethod(lambda user: migration_start(actor="root", instance=running_instance_factory(user)))
    refs = staticmethod(lambda mig: {"id": mig.public_id, "name": mig.public_id})
    calls = (kit.Call("get", STAFF + "migrations/{id}/"), kit.Call("post", STAFF + "migrations/{id}/abort/"),
             kit.Call("get", STAFF + "migrations/{id}/force-complete/?mode=stop_and_copy"),
             kit.Call("post", STAFF + "migrations/{id}/force-complete/", {"mode": "auto_converge"}))


class TestStaffBalancingPolicyOnRest(StaffOnly, kit.OwnedResourceCases):
    """The fleet's one policy row: a tenant can neither read nor change it."""

    create = staticmethod(lambda user: balancing_policy_set(actor="root", threshold=4).policy)
    refs = staticmethod(lambda policy: {"id": "policy", "name": "policy"})
    calls = (kit.Call("get", STAFF + "balancing/policy/"),
             kit.Call("put", STAFF + "balancing/policy/", {"mode": "automatic", "threshold": 5}),
             kit.Call("patch", STAFF + "balancing/policy/", {"mode": "automatic"}))
