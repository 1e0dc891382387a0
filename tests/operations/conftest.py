"""Fleets for the operations tests: guests packed onto one host on purpose, running (pipeline drained)."""
from __future__ import annotations

from provisioning.models import Host, Instance
from provisioning.services.quotas import quota_set
from tests.factories import instance_factory
from tests.fixtures_domain import drain


def pack(user, host_name: str, count: int, *, instance_type: str = "m5.large", appliance: str = "debian-12",
         run=None, **fields) -> list[Instance]:
    """Launch `count` guests onto `host_name` (every other host of its zone disabled meanwhile), then run
    them to `running` with `run(guests)` (default: the inline pipeline)."""
    quota_set(user=user, instances=1000, vcpus=10_000, memory_mib=100 * 1024 * 1024)
    host = Host.objects.get(name=host_name)
    others = list(Host.objects.filter(availability_zone=host.availability_zone, state="enabled")
                  .exclude(pk=host.pk).values_list("pk", flat=True))
    Host.objects.filter(pk__in=others).update(state="disabled")
    try:
        guests = instance_factory(user, count, appliance=appliance, instance_type=instance_type,
                                  availability_zone=host.availability_zone, **fields)
    finally:
        Host.objects.filter(pk__in=others).update(state="enabled")
    assert {g.host_id for g in guests} == {host.pk}
    if run is None:
        drain()
    else:
        run(guests)
    return guests
