"""Quotas, enforced inside the request transaction; errors name the resource, the limit and the usage."""
from __future__ import annotations

import pytest

from provisioning.exceptions import QuotaExceeded
from provisioning.models import Event, Instance, Quota
from provisioning.services import instances as svc
from provisioning.services.claims import ledger_audit
from provisioning.services.quotas import quota_set, quota_usage
from tests.factories import instance_factory
from tests.fixtures_domain import drain

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(host_factory):
    host_factory("h1", memory_gib=256, threads=64)


TERMINATE = "Terminate instances or ask an operator to raise your quota."


@pytest.mark.parametrize("limits, itype, count, words, advice", [
    ({"instances": 1, "vcpus": 100, "memory_mib": 10**6}, "t3.small", 1,
     "instances: limit 1, in use 1, requested 1", TERMINATE),
    ({"instances": 10, "vcpus": 4, "memory_mib": 10**6}, "t3.small", 2,
     "vCPUs: limit 4, in use 2, requested 4", "At most 1 fits; lower the count or pick a smaller type."),
    ({"instances": 10, "vcpus": 100, "memory_mib": 5 * 1024}, "t3.medium", 1,
     "memory: limit 5 GiB, in use 2 GiB, requested 4 GiB", TERMINATE),
])
def test_quota_error_names_resource_limit_and_usage(fleet, user, limits, itype, count, words, advice):
    quota_set(user=user, **limits)
    instance_factory(user, appliance="debian-12")  # in use: 1 instance, 2 vCPU, 2048 MiB
    with pytest.raises(QuotaExceeded) as err:
        instance_factory(user, count, appliance="debian-12", instance_type=itype)
    assert err.value.status == 400 and err.value.code == "quota_exceeded"
    message = err.value.errors["quota"][0]
    assert message.startswith("Quota exceeded — ") and words in message
    assert message.endswith(advice)
    assert Instance.objects.count() == 1 and ledger_audit() == []


def test_max_count_launches_what_the_quota_allows(fleet, user):
    quota_set(user=user, instances=3, vcpus=100, memory_mib=10**6)
    assert len(instance_factory(user, 5, min_count=1, appliance="debian-12")) == 3
    assert quota_usage(user=user).remaining_instances == 0


def test_terminated_instances_give_quota_back(fleet, user):
    quota_set(user=user, instances=1, vcpus=100, memory_mib=10**6)
    (inst,) = instance_factory(user, appliance="debian-12")
    drain()
    svc.instance_action(user=user, instance=inst, action="terminate")
    drain()
    assert len(instance_factory(user, appliance="debian-12")) == 1


def test_quota_set_takes_effect_at_once_and_is_validated(fleet, user):
    quota_set(user=user, instances=2, vcpus=100, memory_mib=10**6)
    instance_factory(user, 2, appliance="debian-12")
    quota_set(user=user, instances=1, vcpus=100, memory_mib=10**6)  # below usage: nothing is taken away
    assert quota_usage(user=user).as_dict()["instances"] == {"limit": 1, "used": 2, "remaining": 0}
    with pytest.raises(QuotaExceeded):
        instance_factory(user, appliance="debian-12")
    assert Quota.objects.get(user=user).instances == 1


def test_one_check_gives_the_rows_a_page_shows_and_the_message_a_refusal_gives(fleet, user):
    quota_set(user=user, instances=5, vcpus=8, memory_mib=3 * 1024)
    instance_factory(user, appliance="debian-12")  # in use: 1 instance, 2 vCPU, 2 GiB
    check = quota_usage(user=user).check(count=2, vcpus=1, memory_mib=1024)  # 2 × t3.micro
    rows = {row.name: row for row in check.rows}
    assert [row.label for row in check.rows] == ["Instances", "vCPUs", "Memory"]
    assert (rows["memory"].ask, rows["memory"].remaining, rows["memory"].exceeds) == (2048, 1024, True)
    assert rows["memory"].usage == "2 GiB of 3 GiB used" and rows["vcpus"].exceeds is False
    assert (rows["instances"].percent, rows["instances"].ask_percent) == (20, 40)
    assert check.exceeds and check.fits == 1
    assert check.message == ("Quota exceeded — memory: limit 3 GiB, in use 2 GiB, requested 2 GiB. "
                             "At most 1 fits; lower the count or pick a smaller type.")
    with pytest.raises(QuotaExceeded) as err:
        instance_factory(user, 2, appliance="debian-12", instance_type="t3.micro")
    assert err.value.errors["quota"] == [check.message]
    assert quota_usage(user=user).check(count=1, vcpus=2, memory_mib=1024).message == ""


def test_a_quota_below_what_runs_reads_over_the_limit(fleet, user):
    instance_factory(user, 3, appliance="debian-12")
    quota_set(user=user, instances=1, vcpus=100, memory_mib=10**6)
    row = quota_usage(user=user).check(count=1, vcpus=2, memory_mib=2048).rows[0]
    assert row.usage == "3 used, over the limit of 1" and row.percent == 100 and row.ask_percent == 0


def test_quota_set_logs_who_set_what(fleet, user):
    quota_set(user=user, instances=4, vcpus=16, memory_mib=8192, actor="ops")
    event = Event.objects.get(action="quota.set")
    assert (event.owner, event.actor) == (user, "ops")
    assert event.message == "Quota set to 4 instances, 16 vCPU, 8192 MiB"
