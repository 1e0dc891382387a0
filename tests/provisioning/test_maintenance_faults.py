"""A worker SIGKILLed while a host enters maintenance, with a REAL Celery worker on Redis.

`sim_worker` runs at SKYPORT_SIM_SPEED 0.05 on a private redis-server, so the guests' pre-copy rounds
take wall-clock time and the kill lands mid-drain: the dead worker's reserved messages (rounds, the
maintenance's own step) are lost. The reconciler re-sends what is overdue. Whatever it decides, no
guest ever stops, the host is `maintenance` only when empty (else back to `enabled`), and the ledger
stays exact. Time is never asserted on.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from provisioning.choices import MIGRATION_ACTIVE
from provisioning.models import Event, Host, Instance, Maintenance, Migration
from provisioning.pipeline import engine
from provisioning.pipeline.reconciler import reconcile
from provisioning.services.claims import ledger_audit
from provisioning.services.maintenance import maintenance_enter
from provisioning.services.quotas import quota_set
from tests.factories import instance_factory
from tests.fixtures_runtime import wait_for

pytestmark = [pytest.mark.celery]

GUESTS = 4


@pytest.fixture
def packed(sim_worker, host_factory, user):
    """GUESTS web guests launched onto `drain-src` (booted by `sim_worker`); two empty hosts take
    them over a 250 MiB/s link shared by the moves, so each needs several rounds."""
    Host.objects.update(state="disabled")
    src = host_factory("drain-src")
    quota_set(user=user, instances=50, vcpus=500, memory_mib=512 * 1024)
    guests = instance_factory(user, GUESTS, appliance="ubuntu-lamp", instance_type="t3.small",
                              availability_zone=src.availability_zone)
    assert {g.host_id for g in guests} == {src.pk}
    for name in ("drain-dst-1", "drain-dst-2"):
        host_factory(name)
    Host.objects.filter(name__startswith="drain-").update(nic_mibps=250.0)
    return Host.objects.get(pk=src.pk), [g.pk for g in guests]


def test_a_worker_sigkilled_mid_maintenance_is_healed_by_the_reconciler(sim_worker, packed):
    src, pks = packed
    wait_for(lambda: Instance.objects.filter(pk__in=pks, state="running", step="").count() == GUESTS,
             timeout=120, message="the guests to boot on the worker")
    m = maintenance_enter(host=src, actor="root", note="firmware")
    wait_for(lambda: Migration.objects.filter(source_host=src, status="running", round__gte=1).exists(),
             timeout=120, interval=0.05, message="a live migration off the host to be under way")
    sim_worker.kill()
    assert Host.objects.get(pk=src.pk).state == "entering_maintenance", "the kill must land mid-drain"
    assert ledger_audit() == []  # destinations' room held by the moves in flight, and accounted for
    sim_worker.start()  # a fresh worker: the dead one's reserved messages are gone

    def settled() -> bool:
        states = set(Instance.objects.filter(pk__in=pks).values_list("state", flat=True))
        assert states == {"running"}, f"a guest stopped being running: {states}"
        if Maintenance.objects.filter(pk=m.pk, status="entering").exists() or \
                Migration.objects.filter(source_host=src, status__in=MIGRATION_ACTIVE).exists():
            reconcile(now=timezone.now() + timedelta(seconds=engine.step_grace_s(60) + 60))
            return False
        return True

    wait_for(settled, timeout=240, interval=0.5, message="the reconciler to finish the maintenance")
    m.refresh_from_db()
    src.refresh_from_db()
    on_source = Instance.objects.filter(pk__in=pks, host=src).count()
    if m.status == "in_maintenance":  # every move resumed (or was retried) and the host emptied
        assert src.state == "maintenance" and on_source == 0
        assert not Instance.objects.filter(host=src).exists()
    else:  # the reconciler gave the maintenance up: the host is back in service, guests wherever they are
        assert m.status == "failed" and m.reason, (m.status, m.reason)
        assert src.state == "enabled"
    assert set(Instance.objects.filter(pk__in=pks).values_list("state", "task").distinct()) == {("running", "")}
    assert not Migration.objects.filter(source_host=src, status__in=MIGRATION_ACTIVE).exists()
    assert Event.objects.filter(action="migration.redrive", instance_id__in=pks).exists()
    assert ledger_audit() == []
