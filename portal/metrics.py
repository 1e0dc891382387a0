"""`/metrics`: Prometheus text (or OpenMetrics) for the fleet, built from the database at scrape time.

A custom Collector reads `provisioning.metrics` on every scrape, so any number of web processes
answer the same figures. Refused to anonymous callers (401) and to non-staff users (403); a
scraper authenticates with `Authorization: Bearer <SKYPORT_METRICS_TOKEN>` (when that setting is
set), a staff user's API token (`Authorization: Token ...`) or a staff session.
"""
from __future__ import annotations

import hmac
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from portal.tokens import token_authenticate
from provisioning.choices import HostState
from provisioning.metrics import fleet_figures

HOST_LABELS = ["host", "zone"]
# (metric suffix, key in HostFigures.used/limits, help)
HOST_FIGURES = (
    ("vcpus_allocated", "used", "vcpus", "vCPUs the host's claims hold"),
    ("vcpus_limit", "limits", "vcpus", "schedulable vCPUs (hardware threads x cpu_allocation_ratio)"),
    ("memory_allocated_bytes", "used", "memory_bytes", "memory the host's claims hold"),
    ("memory_limit_bytes", "limits", "memory_bytes", "schedulable memory ((physical - reserved) x ratio)"),
    ("disk_allocated_bytes", "used", "disk_bytes", "disk the host's claims hold"),
    ("disk_limit_bytes", "limits", "disk_bytes", "schedulable disk"),
    ("instances", "used", "instances", "instances placed on the host"),
    ("instances_limit", "limits", "instances", "max_instances"),
)


class FleetCollector(Collector):
    """Hosts (state, up, utilisation ratios, allocated and limits), instances per state, the fleet's
    imbalance, maintenance progress, and migrations (per status, progress, failures, downtime)."""

    def collect(self) -> Iterator[Metric]:
        figures = fleet_figures()
        state = GaugeMetricFamily("skyport_host_state", "1 for the host's current state, 0 for the others",
                                  labels=[*HOST_LABELS, "state"])
        up = GaugeMetricFamily("skyport_host_up", "1 when the host's agent answers", labels=HOST_LABELS)
        ratio = GaugeMetricFamily("skyport_host_utilisation_ratio",
                                  "allocated / schedulable, per resource (vcpus, memory, disk, instances)",
                                  labels=[*HOST_LABELS, "resource"])
        plain = {name: GaugeMetricFamily(f"skyport_host_{name}", text, labels=HOST_LABELS)
                 for name, _side, _key, text in HOST_FIGURES}
        for h in figures.hosts:
            labels = [h.name, h.zone]
            for value in HostState.values:
                state.add_metric([*labels, value], 1.0 if h.state == value else 0.0)
            up.add_metric(labels, 1.0 if h.is_up else 0.0)
            for resource, value in h.utilisation.items():
                ratio.add_metric([*labels, resource], value)
            for name, side, key, _text in HOST_FIGURES:
                plain[name].add_metric(labels, getattr(h, side)[key])
        yield from (state, up, ratio, *plain.values())
        instances = GaugeMetricFamily("skyport_instances", "instances per public state (every tenant)",
                                      labels=["state"])
        for value, n in figures.instances_by_state.items():
            instances.add_metric([value], n)
        yield instances
        yield GaugeMetricFamily("skyport_cluster_imbalance_stddev", "standard deviation of the schedulable "
                                "hosts' loads (vSphere DRS's current host load standard deviation)",
                                value=figures.imbalance)
        remaining = GaugeMetricFamily("skyport_host_maintenance_remaining_guests",
                                      "guests still on a host entering maintenance", labels=["host"])
        for host, n in figures.maintenance_remaining.items():
            remaining.add_metric([host], n)
        yield remaining
        yield from migration_metrics(figures)


MIGRATION_LABELS = ["vmi", "vmim", "source", "destination"]
# KubeVirt's per-migration gauges (so dashboards carry over), for the migrations under way.
MIGRATION_GAUGES = (
    ("kubevirt_vmi_migration_data_processed_bytes", "processed_bytes", "memory sent so far"),
    ("kubevirt_vmi_migration_data_remaining_bytes", "remaining_bytes", "memory still to send"),
    ("kubevirt_vmi_migration_data_total_bytes", "total_bytes", "the guest's memory to migrate"),
    ("kubevirt_vmi_migration_dirty_memory_rate_bytes", "dirty_rate_bytes", "bytes/s the guest dirties"),
    ("kubevirt_vmi_migration_memory_transfer_rate_bytes", "transfer_rate_bytes", "bytes/s sent"),
    ("skyport_migration_round", "round", "pre-copy round under way"),
)
# KubeVirt's phase counters, from Nova's statuses.
PHASES = (("pending", ("accepted", "queued")), ("scheduling", ("preparing",)), ("running", ("running",)))


def migration_metrics(figures) -> Iterator[Metric]:
    by_status = GaugeMetricFamily("skyport_migrations", "migration records per status (Nova's names)",
                                  labels=["status"])
    for status, n in figures.migrations_by_status.items():
        by_status.add_metric([status], n)
    yield by_status
    for phase, statuses in PHASES:
        yield GaugeMetricFamily(f"kubevirt_vmi_migrations_in_{phase}_phase", f"migrations in {'/'.join(statuses)}",
                                value=sum(figures.migrations_by_status.get(s, 0) for s in statuses))
    gauges = {name: GaugeMetricFamily(name, text, labels=MIGRATION_LABELS) for name, _a, text in MIGRATION_GAUGES}
    for m in figures.active_migrations:
        labels = [m.instance, m.id, m.source, m.destination]
        for name, attr, _text in MIGRATION_GAUGES:
            gauges[name].add_metric(labels, getattr(m, attr))
    yield from gauges.values()
    failures = CounterMetricFamily("skyport_migration_failures", "migrations that ended failed, cancelled or in "
                                   "error, by status and cause", labels=["status", "cause"])
    for (status, cause), n in sorted(figures.failures.items()):
        failures.add_metric([status, cause], n)
    yield failures
    buckets = [(floatToGoString(bound), n) for bound, n in figures.downtime_buckets]
    buckets.append(("+Inf", figures.downtime_count))
    yield HistogramMetricFamily("skyport_migration_downtime_seconds", "the guest's pause at switch-over, per "
                                "completed migration", buckets=buckets, sum_value=figures.downtime_sum_s)


REGISTRY = CollectorRegistry(auto_describe=False)  # only our collectors: nothing kept in this process
REGISTRY.register(FleetCollector())


def _refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the caller may read the metrics, else the 401 / 403 to answer."""
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    scheme, credential = scheme.lower(), credential.strip()
    if scheme == "bearer" and credential:
        expected = settings.SKYPORT_METRICS_TOKEN
        if expected and hmac.compare_digest(credential.encode(), expected.encode()):
            return None
        return _deny(401, "The bearer token is not SKYPORT_METRICS_TOKEN.")
    user = request.user
    if scheme == "token" and credential:
        token = token_authenticate(credential)
        if token is None or not token.user.is_active:
            return _deny(401, "Invalid or expired API token.")
        user = token.user
    if not user.is_authenticated:
        return _deny(401, "Authenticate: a staff session, `Authorization: Token <staff API token>` or "
                          "`Authorization: Bearer <SKYPORT_METRICS_TOKEN>`.")
    if not user.is_staff:
        return _deny(403, "Only operators (staff users) may read the metrics.")
    return None


def _deny(status: int, text: str) -> HttpResponse:
    response = HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="skyport-metrics"'
    return response


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    refused = _refusal(request)
    if refused is not None:
        return refused
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(REGISTRY), content_type=content_type)
