"""`/metrics`: Prometheus text format read from the database at scrape time; refused to anonymous
callers (401) and non-staff users (403)."""
from __future__ import annotations

import pytest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from portal.tokens import token_issue
from provisioning.models import Host
from tests.factories import instance_factory
from tests.fixtures_domain import drain

pytestmark = pytest.mark.django_db


def _samples(body: bytes) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _get(samples: dict, name: str, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_anonymous_is_refused():
    resp = Client().get("/metrics")
    assert resp.status_code == 401
    assert resp["WWW-Authenticate"].startswith("Bearer")
    assert b"skyport_" not in resp.content


def test_tenant_session_and_token_are_forbidden(user):
    client = Client()
    client.force_login(user)
    assert client.get("/metrics").status_code == 403
    token = token_issue(user=user)[1]
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Token {token}").status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Token nope").status_code == 401


def test_bearer_token_setting(catalog):
    with override_settings(SKYPORT_METRICS_TOKEN="s3cret-scrape"):
        ok = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape")
        assert ok.status_code == 200
        assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    with override_settings(SKYPORT_METRICS_TOKEN=""):  # unset: no bearer token opens it
        assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
        assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 401


def test_staff_reads_host_utilisation_and_instances_per_state(catalog, user, staff_user):
    instance_factory(user, 2, appliance="debian-12", instance_type="m5.large")
    drain()
    client = Client()
    client.force_login(staff_user)
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = _samples(resp.content)
    assert _get(samples, "skyport_instances", state="running") == 2
    assert _get(samples, "skyport_instances", state="stopped") == 0
    host = Host.objects.filter(instances_used__gt=0).first()
    labels = {"host": host.name, "zone": host.availability_zone}
    assert _get(samples, "skyport_host_utilisation_ratio", resource="memory", **labels) == \
        pytest.approx(host.memory_mib_used / host.memory_mib_limit, abs=1e-4)
    assert _get(samples, "skyport_host_memory_allocated_bytes", **labels) == host.memory_mib_used * 2**20
    assert _get(samples, "skyport_host_state", state="enabled", **labels) == 1
    assert _get(samples, "skyport_host_state", state="maintenance", **labels) == 0
    # Read at scrape time: a change in the database shows on the next scrape, no process state.
    Host.objects.filter(pk=host.pk).update(state="disabled")
    again = _samples(client.get("/metrics").content)
    assert _get(again, "skyport_host_state", state="disabled", **labels) == 1


def test_openmetrics_when_asked(catalog, staff_user):
    client = Client()
    client.force_login(staff_user)
    resp = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert resp.status_code == 200 and resp["Content-Type"].startswith("application/openmetrics-text")
    assert resp.content.rstrip().endswith(b"# EOF")


def test_migration_metrics_progress_failures_and_downtime(catalog, user, staff_user):
    from provisioning.models import Migration
    from provisioning.services.migrations import migration_abort, migration_start
    from tests.operations.conftest import pack

    a, b, c = pack(user, "hv-01", 3)
    done = migration_start(actor="root", instance=a)
    drain()
    running = migration_start(actor="root", instance=b)
    migration_abort(actor="root", migration=migration_start(actor="root", instance=c))
    Migration.objects.filter(pk=running.pk).update(status="running", memory_processed_bytes=3 * 2**30,
                                                   memory_remaining_bytes=5 * 2**30, dirty_rate_mibps=40.0,
                                                   transfer_rate_mibps=1000.0, round=2)
    client = Client()
    client.force_login(staff_user)
    samples = _samples(client.get("/metrics").content)
    labels = {"vmi": b.public_id, "vmim": running.public_id, "source": "hv-01",
              "destination": running.dest_host.name}
    assert _get(samples, "kubevirt_vmi_migration_data_processed_bytes", **labels) == 3 * 2**30
    assert _get(samples, "kubevirt_vmi_migration_data_remaining_bytes", **labels) == 5 * 2**30
    assert _get(samples, "kubevirt_vmi_migration_dirty_memory_rate_bytes", **labels) == 40 * 2**20
    assert _get(samples, "kubevirt_vmi_migration_memory_transfer_rate_bytes", **labels) == 1000 * 2**20
    assert _get(samples, "kubevirt_vmi_migrations_in_running_phase") == 1
    assert _get(samples, "skyport_migrations", status="completed") == 1
    assert _get(samples, "skyport_migration_failures_total", status="cancelled", cause="aborted") == 1
    downtime = Migration.objects.get(pk=done.pk).downtime_ms / 1000
    assert _get(samples, "skyport_migration_downtime_seconds_count") == 1
    assert _get(samples, "skyport_migration_downtime_seconds_sum") == pytest.approx(downtime)
    assert _get(samples, "skyport_migration_downtime_seconds_bucket", le="+Inf") == 1
    assert _get(samples, "skyport_migration_downtime_seconds_bucket", le="5.0") == (1 if downtime <= 5 else 0)
    assert _get(samples, "skyport_cluster_imbalance_stddev") > 0
    assert not any(k[0].startswith("kubevirt_vmi_migration_data") and dict(k[1]).get("vmi") == a.public_id
                   for k in samples)  # a finished migration leaves the per-migration gauges
