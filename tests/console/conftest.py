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
    """10 hosts with 30 running instances of synthetic tenants (provisioning.fixtures.fleet), one of them
    live-migrating and the last host entering maintenance (accepted, nothing moved: no step runs here)."""
    from provisioning.exceptions import SkyportError
    from provisioning.fixtures.fleet import fleet_build
    from provisioning.models import Instance
    from provisioning.services.migrations import migration_start

    report = fleet_build(hosts=10, instances=30, prefix="sm", seed=3)
    for inst in Instance.objects.filter(state="running").order_by("-instance_type__memory_mib", "public_id"):
        try:  # the first guest whose zone has room elsewhere (ids are random, the zones' room is not)
            migration_start(actor="root", instance=inst)
            break
        except SkyportError:
            continue
    from provisioning.models import Host
    from provisioning.services.maintenance import maintenance_enter

    maintenance_enter(host=Host.objects.order_by("name").last(), actor="root", note="page tests")
    return report


def guests_on(user, host_name: str, count: int, *, instance_type: str = "m5.large", appliance: str = "debian-12"):
    """`count` running guests of `user` on `host_name` (the other hosts of its zone disabled while they are
    placed), run to `running` inline."""
    from provisioning.models import Host
    from provisioning.services.quotas import quota_set
    from tests.factories import instance_factory
    from tests.fixtures_domain import drain

    quota_set(user=user, instances=1000, vcpus=10_000, memory_mib=100 * 1024 * 1024)
    host = Host.objects.get(name=host_name)
    others = list(Host.objects.filter(availability_zone=host.availability_zone, state="enabled")
                  .exclude(pk=host.pk).values_list("pk", flat=True))
    Host.objects.filter(pk__in=others).update(state="disabled")
    try:
        guests = instance_factory(user, count, appliance=appliance, instance_type=instance_type,
                                  availability_zone=host.availability_zone)
    finally:
        Host.objects.filter(pk__in=others).update(state="enabled")
    drain()
    return guests
