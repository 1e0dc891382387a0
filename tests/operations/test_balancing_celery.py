"""Balancing a deliberately skewed fleet with a real Celery worker: applying the recommendations lowers
the imbalance, no guest moves twice within its cooldown, no destination ends above the source it
relieved, and every guest keeps running."""
from __future__ import annotations

import pytest
from django.test import override_settings

from provisioning import driver
from provisioning.choices import MIGRATION_ACTIVE
from provisioning.models import Host, Instance, Migration
from provisioning.services.balancing import (
    balancing_apply,
    balancing_policy_set,
    balancing_recommend,
    balancing_tick,
)
from provisioning.services.claims import ledger_audit
from tests.fixtures_runtime import wait_for

from .conftest import pack

pytestmark = [pytest.mark.celery]


def _booted(guests):
    pks = [g.pk for g in guests]
    wait_for(lambda: Instance.objects.filter(pk__in=pks, state="running", task="").count() == len(pks),
             timeout=120, message="the guests to boot")


def _settled(worker) -> bool:
    assert not worker.task_errors()
    return not Migration.objects.filter(status__in=MIGRATION_ACTIVE).exists()


def _load(name: str) -> float:
    h = Host.objects.get(name=name)
    return driver.host_load((h.memory_mib_used, h.memory_mib_limit, h.vcpus_used, h.vcpus_limit))


def test_applying_recommendations_evens_the_skewed_fleet(celery_worker, catalog, user):
    guests = pack(user, "hv-01", 16, run=_booted)
    before = balancing_recommend().imbalance
    moved: set[str] = set()
    for _run in range(3):
        run = balancing_apply(actor="root", max_moves=4)
        if not run.started:
            break
        started = {s["instance"] for s in run.started}
        assert not started & moved, "a guest moved twice within its cooldown"
        moved |= started
        for rec in run.plan.recommendations:
            assert rec.destination_load_after < rec.source_load_after
        wait_for(lambda: _settled(celery_worker), timeout=120, message="the balancing migrations to finish")
    assert len(moved) >= 4
    after = balancing_recommend().imbalance
    assert after < before
    migs = Migration.objects.filter(request_note__startswith="balancing")
    assert set(migs.values_list("status", flat=True)) == {"completed"}
    for mig in migs.select_related("source_host", "dest_host"):
        assert _load(mig.dest_host.name) < _load(mig.source_host.name), "a destination ended above its source"
    assert set(Instance.objects.filter(pk__in=[g.pk for g in guests]).values_list("state", flat=True)) == {"running"}
    assert ledger_audit() == []


def test_the_tick_follows_the_stored_mode_one_run_at_a_time(celery_worker, catalog, user):
    """The beat task reads the policy staff set (not the setting): manual only recommends, automatic applies,
    and waits for its previous run's migrations before the next."""
    pack(user, "hv-01", 12, run=_booted)
    from django.conf import settings

    with override_settings(SKYPORT_BALANCING={**settings.SKYPORT_BALANCING, "mode": "automatic", "max_moves": 2}):
        balancing_policy_set(actor="root", mode="manual")
        manual = balancing_tick()
        assert "manual" in manual["skipped"] and len(manual["plan"]["recommendations"]) == 2
        assert not Migration.objects.exists()
        balancing_policy_set(actor="root", mode="automatic")
        first = balancing_tick()
        assert len(first["started"]) == 2
        if Migration.objects.filter(status__in=MIGRATION_ACTIVE).exists():
            assert "still moving" in balancing_tick()["skipped"]
        wait_for(lambda: _settled(celery_worker), timeout=120, message="the first run to finish")
        second = balancing_tick()
        assert {s["instance"] for s in second["started"]}.isdisjoint({s["instance"] for s in first["started"]})
    wait_for(lambda: _settled(celery_worker), timeout=120, message="the second run to finish")
    assert ledger_audit() == []
