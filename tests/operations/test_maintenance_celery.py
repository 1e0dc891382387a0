"""Maintenance with a real Celery worker on Redis: a host with 20 running guests is emptied with no
guest ever stopping, within the concurrency limit, and is `maintenance` only once empty."""
from __future__ import annotations

import pytest

from provisioning.choices import MIGRATION_MOVING
from provisioning.models import Host, Instance, Maintenance, Migration
from provisioning.services.claims import ledger_audit
from provisioning.services.maintenance import maintenance_enter
from provisioning.services.migration_rounds import migration_slots
from tests.fixtures_runtime import wait_for

from .conftest import pack

pytestmark = [pytest.mark.celery]


def _all_running(pks: list[int]) -> bool:
    return Instance.objects.filter(pk__in=pks, state="running", task="").count() == len(pks)


def _booted(guests: list[Instance]) -> None:
    pks = [g.pk for g in guests]
    wait_for(lambda: _all_running(pks), timeout=120, message="the guests to boot on the worker")


def test_maintenance_of_a_host_with_20_running_guests(celery_worker, catalog, user):
    guests = pack(user, "hv-01", 20, instance_type="t3.medium", run=_booted)
    pks = [g.pk for g in guests]
    host = Host.objects.get(name="hv-01")
    slots = migration_slots(host)
    maintenance_enter(host=host, actor="root", note="rack move")
    polls, most_moving = 0, 0

    def watch() -> bool:
        nonlocal polls, most_moving
        assert not celery_worker.task_errors()
        state = Host.objects.get(pk=host.pk).state  # read before the guests: a host never gets them back
        on_host = Instance.objects.filter(host=host, state__in=["pending", "running", "stopping", "stopped"])
        if state == "maintenance":
            assert not on_host.exists(), "maintenance while guests were still on the host"
        else:
            assert state == "entering_maintenance"
        states = set(Instance.objects.filter(pk__in=pks).values_list("state", flat=True))
        assert states == {"running"}, f"a guest was not running: {states}"
        moving = Migration.objects.filter(source_host=host, status__in=MIGRATION_MOVING).count()
        assert moving <= slots, f"{moving} migrations at once off hv-01, limit {slots}"
        most_moving = max(most_moving, moving)
        polls += 1
        return state == "maintenance"

    wait_for(watch, timeout=240, interval=0.05, message="hv-01 to be empty and in maintenance")
    m = Maintenance.objects.get(host=host)
    assert m.status == "in_maintenance" and m.remaining == [] and m.migrations_started == 20
    for inst in Instance.objects.filter(pk__in=pks).select_related("host"):
        assert inst.state == "running" and inst.host.name != "hv-01" and inst.host.availability_zone == "sky-1a"
    done = Migration.objects.filter(source_host=host)
    assert done.count() == 20 and set(done.values_list("status", flat=True)) == {"completed"}
    assert all(r > 0 for r in done.values_list("round", flat=True))
    assert polls > 1 and 1 <= most_moving <= slots
    assert ledger_audit() == []
