"""The figures `/metrics` exports, read from the database when Prometheus scrapes (never counters
kept in one web process: with several web processes each would tell its own story).

Plain data only; `portal.metrics` turns it into Prometheus metric families.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count

from .choices import InstanceState
from .models import Host, Instance


@dataclass
class HostFigures:
    name: str
    zone: str
    state: str
    is_up: bool
    utilisation: dict[str, float]
    used: dict[str, int]
    limits: dict[str, int]


@dataclass
class FleetFigures:
    hosts: list[HostFigures] = field(default_factory=list)
    instances_by_state: dict[str, int] = field(default_factory=dict)


def fleet_figures() -> FleetFigures:
    """Hosts (state, utilisation, used and limits) and instance counts per state: two queries."""
    out = FleetFigures()
    for h in Host.objects.order_by("name").only(
            "name", "availability_zone", "state", "is_up", "vcpus_used", "memory_mib_used", "disk_gib_used",
            "instances_used", "vcpus_limit", "memory_mib_limit", "disk_gib_limit", "max_instances"):
        out.hosts.append(HostFigures(
            name=h.name, zone=h.availability_zone, state=h.state, is_up=h.is_up, utilisation=h.utilisation,
            used={"vcpus": h.vcpus_used, "memory_bytes": h.memory_mib_used * 2**20,
                  "disk_bytes": h.disk_gib_used * 2**30, "instances": h.instances_used},
            limits={"vcpus": h.vcpus_limit, "memory_bytes": h.memory_mib_limit * 2**20,
                    "disk_bytes": h.disk_gib_limit * 2**30, "instances": h.max_instances},
        ))
    counts = dict(Instance.objects.values_list("state").annotate(n=Count("id")).order_by())
    out.instances_by_state = {s: counts.get(s, 0) for s in InstanceState.values}
    return out
