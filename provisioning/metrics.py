"""The figures `/metrics` exports, read from the database when Prometheus scrapes (never counters
kept in one web process: with several web processes each would tell its own story).

Plain data only; `portal.metrics` turns it into Prometheus metric families.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q, Sum

from . import driver
from .choices import MIGRATION_ACTIVE, InstanceState, MaintenanceStatus, MigrationStatus
from .models import Host, Instance, Maintenance, Migration

# Upper bounds (seconds) of the downtime histogram: Nova's 500 ms default limit sits in the middle.
DOWNTIME_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Why migrations ended badly, from their reason, most specific first: (cause, words that say it).
CAUSES = (("aborted", ("aborted by",)), ("not_converging", ("converg", "dirt")),
          ("no_progress", ("no progress", "progress timeout")), ("timeout", ("timeout", "timed out")),
          ("destination", ("destination",)), ("instance", ("instance", "guest")),
          ("lost_worker", ("re-dispatch", "worker")))


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
class MigrationFigures:
    id: str
    instance: str
    source: str
    destination: str
    status: str
    processed_bytes: int
    remaining_bytes: int
    total_bytes: int
    dirty_rate_bytes: float
    transfer_rate_bytes: float
    round: int


@dataclass
class FleetFigures:
    hosts: list[HostFigures] = field(default_factory=list)
    instances_by_state: dict[str, int] = field(default_factory=dict)
    imbalance: float = 0.0
    migrations_by_status: dict[str, int] = field(default_factory=dict)
    active_migrations: list[MigrationFigures] = field(default_factory=list)
    failures: dict[tuple[str, str], int] = field(default_factory=dict)  # (status, cause) -> count
    downtime_buckets: list[tuple[float, int]] = field(default_factory=list)  # cumulative, as Prometheus wants
    downtime_count: int = 0
    downtime_sum_s: float = 0.0
    maintenance_remaining: dict[str, int] = field(default_factory=dict)  # host -> guests still there


def failure_cause(reason: str) -> str:
    """A short, bounded label for why a migration ended badly (its reason is free text)."""
    text = (reason or "").lower()
    for cause, words in CAUSES:
        if any(w in text for w in words):
            return cause
    return "other"


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
    out.imbalance = driver.fleet_imbalance({h.name: (h.used["memory_bytes"], h.limits["memory_bytes"],
                                                     h.used["vcpus"], h.limits["vcpus"])
                                            for h in out.hosts if h.state == "enabled" and h.is_up})
    _migration_figures(out)
    out.maintenance_remaining = {
        m.host.name: len(m.remaining)
        for m in Maintenance.objects.filter(status=MaintenanceStatus.ENTERING).select_related("host")}
    return out


def _migration_figures(out: FleetFigures) -> None:
    """Migrations per status, each active one's progress, failures by cause, the downtime histogram."""
    counts = dict(Migration.objects.values_list("status").annotate(n=Count("id")).order_by())
    out.migrations_by_status = {s: counts.get(s, 0) for s in MigrationStatus.values}
    for m in (Migration.objects.filter(status__in=MIGRATION_ACTIVE)
              .select_related("instance", "source_host", "dest_host").order_by("pk")):
        out.active_migrations.append(MigrationFigures(
            id=m.public_id, instance=m.instance.public_id, source=m.source_host.name, destination=m.dest_host.name,
            status=m.status, processed_bytes=m.memory_processed_bytes, remaining_bytes=m.memory_remaining_bytes,
            total_bytes=m.memory_total_bytes, dirty_rate_bytes=m.dirty_rate_mibps * 2**20,
            transfer_rate_bytes=m.transfer_rate_mibps * 2**20, round=m.round))
    for status, reason in Migration.objects.filter(
            status__in=[MigrationStatus.FAILED, MigrationStatus.CANCELLED, MigrationStatus.ERROR]
    ).values_list("status", "reason").iterator():
        key = (status, failure_cause(reason))
        out.failures[key] = out.failures.get(key, 0) + 1
    done = Migration.objects.filter(status=MigrationStatus.COMPLETED, downtime_ms__isnull=False)
    aggs = {f"le{i}": Count("id", filter=Q(downtime_ms__lte=bound * 1000)) for i, bound in enumerate(DOWNTIME_BUCKETS)}
    got = done.aggregate(n=Count("id"), total=Sum("downtime_ms"), **aggs)
    out.downtime_buckets = [(bound, got[f"le{i}"]) for i, bound in enumerate(DOWNTIME_BUCKETS)]
    out.downtime_count = got["n"]
    out.downtime_sum_s = (got["total"] or 0.0) / 1000
