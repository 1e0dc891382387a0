"""Quotas, enforced inside the request transaction; errors name the resource, the limit and the usage."""
from __future__ import annotations

import pytest

from provisioning.exceptions import QuotaExceeded
from provisioning.models import Instance, Quota
from provisioning.services import instances as svc
from provisioning.services.launch import instance_launch
from provisioning.services.quotas import quota_set, quota_usage
from tests.fixtures_domain import drain, ledger_problems

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(host_factory):
    host_factory("h1", memory_gib=256, threads=64)


def launch(user, itype: str = "t3.small", **kw):
    return instance_launch(user=user, appliance="debian-12", instance_type=itype, **kw).reservation


@pytest.mark.parametrize("limits, itype, count, words", [
    ({"instances": 1, "vcpus": 100, "memory_mib": 10**6}, "t3.small", 1,
     "instances: limit 1, in use 1, requested 1"),
    ({"instances": 10, "vcpus": 4, "memory_mib": 10**6}, "t3.small", 2,
     "vCPUs: limit 4, in use 2, requested 4"),
    ({"instances": 10, "vcpus": 100, "memory_mib": 5 * 1024}, "t3.medium", 1,
     "memory: limit 5 GiB, in use 2 GiB, requested 4 GiB"),
])
def test_quota_error_names_resource_limit_and_usage(fleet, user, limits, itype, count, words):
    quota_set(user=user, **limits)
    launch(user)  # in use: 1 instance, 2 vCPU, 2048 MiB
    with pytest.raises(QuotaExceeded) as err:
        launch(user, itype, min_count=count, max_count=count)
    assert err.value.status == 400 and err.value.code == "quota_exceeded"
    message = err.value.errors["quota"][0]
    assert message.startswith("Quota exceeded — ") and words in message
    assert message.endswith("Terminate instances or ask an operator to raise your quota.")
    assert Instance.objects.count() == 1 and ledger_problems() == []


def test_max_count_launches_what_the_quota_allows(fleet, user):
    quota_set(user=user, instances=3, vcpus=100, memory_mib=10**6)
    assert launch(user, min_count=1, max_count=5).instances.count() == 3
    assert quota_usage(user=user).remaining_instances == 0


def test_terminated_instances_give_quota_back(fleet, user):
    quota_set(user=user, instances=1, vcpus=100, memory_mib=10**6)
    inst = launch(user).instances.get()
    drain()
    svc.instance_action(user=user, instance=inst, action="terminate")
    drain()
    assert launch(user).instances.count() == 1


def test_quota_set_takes_effect_at_once_and_is_validated(fleet, user):
    quota_set(user=user, instances=2, vcpus=100, memory_mib=10**6)
    launch(user, min_count=2, max_count=2)
    quota_set(user=user, instances=1, vcpus=100, memory_mib=10**6)  # below usage: nothing is taken away
    assert quota_usage(user=user).as_dict()["instances"] == {"limit": 1, "used": 2, "remaining": 0}
    with pytest.raises(QuotaExceeded):
        launch(user)
    assert Quota.objects.get(user=user).instances == 1
