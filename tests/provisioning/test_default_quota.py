"""A new account's quota (issue 12): Nova-like defaults from settings, small enough that a crowd of
throw-away accounts cannot fill the fleet."""
from __future__ import annotations

import pytest
from django.db.models import Sum

from provisioning.exceptions import QuotaExceeded
from provisioning.models import Host, Instance
from provisioning.services.launch import instance_launch
from provisioning.services.quotas import quota_usage

pytestmark = pytest.mark.django_db


def test_a_new_accounts_quota_has_novas_defaults(user, settings):
    usage = quota_usage(user=user)
    assert (usage.limit_instances, usage.limit_vcpus, usage.limit_memory_mib) == (10, 20, 50 * 1024)


def test_the_default_quota_comes_from_settings(django_user_model, settings):
    settings.SKYPORT_DEFAULT_QUOTA = {"instances": 3, "vcpus": 6, "memory_mib": 4096}
    usage = quota_usage(user=django_user_model.objects.create_user("newcomer"))
    assert (usage.limit_instances, usage.limit_vcpus, usage.limit_memory_mib) == (3, 6, 4096)


def _fill(user) -> int:
    """Launch as much as the quota allows: big instances first, then small ones; returns how many."""
    launched = 0
    for itype in ("m5.xlarge", "m5.large", "t3.small", "t3.micro", "t3.nano"):
        try:
            launched += instance_launch(user=user, appliance="debian-12", instance_type=itype,
                                        min_count=1, max_count=10).reservation.instances.count()
        except QuotaExceeded:
            continue
    return launched


def test_22_throwaway_accounts_cannot_exhaust_the_demo_fleet(catalog, django_user_model, user):
    """The issue's attack (22 accounts, 433 instances, every host's memory) under the default quota."""
    limit_mib = Host.objects.aggregate(m=Sum("memory_mib_limit"))["m"]
    for n in range(22):
        attacker = django_user_model.objects.create_user(f"throwaway-{n}")
        assert 0 < _fill(attacker) <= 10
        with pytest.raises(QuotaExceeded):
            instance_launch(user=attacker, appliance="debian-12", instance_type="t3.nano")
    used_mib = Host.objects.aggregate(m=Sum("memory_mib_used"))["m"]
    assert used_mib <= 22 * 50 * 1024 < limit_mib / 2  # the crowd holds well under half the fleet's memory
    assert Instance.objects.count() <= 22 * 10
    # a real tenant still gets the biggest launch their quota allows
    result = instance_launch(user=user, appliance="debian-12", instance_type="m5.xlarge", min_count=3, max_count=3)
    assert result.reservation.instances.count() == 3
