"""Every EC2 action reaches the domain through the same service or selector function as the web and
REST surfaces (no third launch path, no action composed in the surface)."""
from __future__ import annotations

import importlib
from unittest import mock

import pytest

from portal.ec2.actions import ACTIONS
from provisioning.selectors import appliance_get
from provisioning.services import instances as instance_services
from provisioning.services.launch import instance_launch
from tests.fixtures_domain import drain

pytestmark = pytest.mark.django_db(transaction=True)

# action -> (module whose global the action looks up, function name)
PATHS = {
    "RunInstances": ("portal.ec2.actions.launch", "instance_launch"),
    "DescribeInstances": ("portal.ec2.actions.instances", "instance_list"),
    "DescribeInstanceStatus": ("portal.ec2.actions.instances", "instance_list"),
    "StartInstances": ("provisioning.services.instances", "instance_action"),
    "StopInstances": ("provisioning.services.instances", "instance_action"),
    "RebootInstances": ("provisioning.services.instances", "instance_action"),
    "TerminateInstances": ("provisioning.services.instances", "instance_action"),
    "GetConsoleOutput": ("portal.ec2.actions.instances", "instance_list"),
    "GetPasswordData": ("portal.ec2.actions.instances", "instance_list"),
    "DescribeImages": ("portal.ec2.actions.images", "appliance_list"),
    "DescribeInstanceTypes": ("portal.ec2.actions.images", "instance_type_list"),
    "DescribeAvailabilityZones": ("portal.ec2.actions.images", "availability_zone_list"),
    "DescribeRegions": (None, None),  # one region, from settings: no domain call
    "CreateKeyPair": ("portal.ec2.actions.keypairs", "keypair_create"),
    "ImportKeyPair": ("portal.ec2.actions.keypairs", "keypair_import"),
    "DescribeKeyPairs": ("portal.ec2.actions.keypairs", "keypair_list"),
    "DeleteKeyPair": ("portal.ec2.actions.keypairs", "keypair_delete"),
    "CreateSecurityGroup": ("portal.ec2.actions.security_groups", "security_group_create"),
    "DescribeSecurityGroups": ("portal.ec2.actions.security_groups", "security_group_list"),
    "DeleteSecurityGroup": ("portal.ec2.actions.security_groups", "security_group_delete"),
    "AuthorizeSecurityGroupIngress": ("portal.ec2.actions.security_groups", "security_group_rules_add"),
    "RevokeSecurityGroupIngress": ("portal.ec2.actions.security_groups", "security_group_rules_remove"),
    "CreateTags": ("portal.ec2.actions.tags", "tags_set"),
    "DeleteTags": ("portal.ec2.actions.tags", "tags_delete"),
    "DescribeTags": ("portal.ec2.actions.tags", "tag_list"),
}
# The same function objects the web and REST surfaces call.
SHARED = {
    "instance_launch": ["portal.api.views", "portal.web.views"],
    "instance_action": ["portal.api.views", "portal.web.views"],
    "keypair_create": ["portal.api.views"],
    "keypair_delete": ["portal.api.views"],
    "security_group_create": ["portal.api.views"],
    "security_group_delete": ["portal.api.views"],
}


def _module_with(name: str, candidates: str) -> object:
    """The module of a surface package that holds `name` (surfaces are being split into packages)."""
    base = importlib.import_module(candidates)
    if hasattr(base, name):
        return getattr(base, name)
    import pkgutil

    for info in pkgutil.walk_packages(getattr(base, "__path__", []), prefix=candidates + "."):
        module = importlib.import_module(info.name)
        if hasattr(module, name):
            return getattr(module, name)
    raise AssertionError(f"no module under {candidates} uses {name}")


def test_every_action_is_listed():
    assert set(PATHS) == set(ACTIONS)


@pytest.mark.parametrize("name", sorted(SHARED))
def test_ec2_calls_the_function_the_web_and_rest_call(name):
    ec2_module, _ = next(v for v in PATHS.values() if v[1] == name)
    ours = getattr(importlib.import_module(ec2_module), name)
    for surface in SHARED[name]:
        assert _module_with(name, surface) is ours, f"{surface} and EC2 call different {name}"


def test_run_instances_is_one_instance_launch_call(catalog, ec2, user):
    with mock.patch("portal.ec2.actions.launch.instance_launch", wraps=instance_launch) as spy:
        ec2.run_instances(ImageId=appliance_get(ref="debian-12").public_id, InstanceType="t3.micro", MinCount=1,
                          MaxCount=2, ClientToken="tok-1")
    spy.assert_called_once()
    kwargs = spy.call_args.kwargs
    assert kwargs["user"] == user and kwargs["idempotency_key"] == "tok-1" and kwargs["idempotency_scope"] == "ec2"


def test_state_changes_call_instance_action_per_instance(catalog, ec2, user):
    made = ec2.run_instances(ImageId=appliance_get(ref="debian-12").public_id, InstanceType="t3.micro",
                             MinCount=2, MaxCount=2)
    ids = [i["InstanceId"] for i in made["Instances"]]
    drain()
    real = instance_services.instance_action
    with mock.patch.object(instance_services, "instance_action", wraps=real) as spy:
        ec2.stop_instances(InstanceIds=ids)
    assert [c.kwargs["action"] for c in spy.call_args_list] == ["stop", "stop"]


@pytest.mark.parametrize("action,call", [
    ("DescribeInstances", lambda c: c.describe_instances()),
    ("DescribeImages", lambda c: c.describe_images()),
    ("DescribeInstanceTypes", lambda c: c.describe_instance_types()),
    ("DescribeAvailabilityZones", lambda c: c.describe_availability_zones()),
    ("CreateKeyPair", lambda c: c.create_key_pair(KeyName="k")),
    ("DescribeKeyPairs", lambda c: c.describe_key_pairs()),
    ("CreateSecurityGroup", lambda c: c.create_security_group(GroupName="g", Description="g")),
    ("DescribeSecurityGroups", lambda c: c.describe_security_groups()),
    ("DescribeTags", lambda c: c.describe_tags()),
])
def test_each_action_reaches_its_function(catalog, ec2, action, call):
    module_name, func = PATHS[action]
    module = importlib.import_module(module_name)
    with mock.patch.object(module, func, wraps=getattr(module, func)) as spy:
        call(ec2)
    assert spy.called
