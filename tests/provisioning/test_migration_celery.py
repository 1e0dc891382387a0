"""Live migration with a REAL Celery worker on Redis: completion polled round by round, and faults.

`sim_worker` runs at SKYPORT_SIM_SPEED 0.05 on a private redis-server (so a round of 25 simulated
seconds is a wall-clock second, and a poll or a kill lands mid-migration); the session's
`celery_worker` runs at speed 0 (for the faults that need no timing). Time is never asserted on.
Every fault must end with the guest running on the source, the destination claim released, the
migration failed or cancelled with a reason, and `ledger_audit()` empty.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from provisioning.choices import MIGRATION_ACTIVE
from provisioning.models import Claim, Event, Host, Instance, Migration
from provisioning.pipeline import engine
from provisioning.pipeline.reconciler import reconcile
from provisioning.services import migrations as svc
from provisioning.services.claims import ledger_audit
from provisioning.services.launch import instance_launch
from tests.fixtures_runtime import wait_for

pytestmark = [pytest.mark.celery]


@pytest.fixture
def pair(host_factory):
    """Source and destination on an 80 MiB/s link: a 2 GiB web guest needs several rounds."""
    src, dst = host_factory("mig-src"), host_factory("mig-dst")
    Host.objects.filter(pk__in=[src.pk, dst.pk]).update(nic_mibps=80.0)
    return Host.objects.get(pk=src.pk), Host.objects.get(pk=dst.pk)


def running_on(user, host: Host, *, appliance: str = "ubuntu-lamp", itype: str = "t3.small") -> Instance:
    others = list(Host.objects.exclude(pk=host.pk).values_list("pk", flat=True))
    Host.objects.filter(pk__in=others).update(state="disabled")
    inst = instance_launch(user=user, appliance=appliance, instance_type=itype).reservation.instances.get()
    Host.objects.filter(pk__in=others).update(state="enabled")
    wait_for(lambda: Instance.objects.filter(pk=inst.pk, state="running", step="").exists(), timeout=120,
             message="the instance to run")
    inst.refresh_from_db()
    assert inst.host_id == host.pk
    return inst


def final(mig: Migration, timeout: float = 120) -> Migration:
    wait_for(lambda: Migration.objects.filter(pk=mig.pk, step="").exclude(status__in=MIGRATION_ACTIVE)
             .exists(), timeout=timeout, message=f"{mig.public_id} to end")
    mig.refresh_from_db()
    return mig


def assert_on_source(mig: Migration, status: str) -> None:
    inst = Instance.objects.get(pk=mig.instance_id)
    assert mig.status == status and mig.reason, (mig.status, mig.reason)
    assert (inst.state, inst.task, inst.host_id) == ("running", "", mig.source_host_id)
    assert list(Claim.objects.filter(instance=inst).values_list("kind", "host_id")) == \
        [("instance", mig.source_host_id)]
    assert Event.objects.filter(instance=inst, action=f"migration.{status}").count() == 1
    assert ledger_audit() == []


def test_a_migration_completes_round_by_round_with_the_guest_running_at_every_poll(sim_worker, pair, user):
    src, dst = pair
    inst = running_on(user, src)
    old_ip = inst.private_ip
    assert ledger_audit() == []
    mig = svc.migration_start(actor="root", instance=inst)
    seen: set[tuple[str, int]] = set()
    held_during = False

    def poll() -> bool:
        nonlocal held_during
        i = Instance.objects.get(pk=inst.pk)
        m = Migration.objects.get(pk=mig.pk)
        assert i.state == "running", (i.state, m.status)
        # ledger_audit reads hosts and claims in two statements; a switch-over committing between them
        # shows a mismatch that no committed state has. A real leak persists, so it fails the second read.
        assert ledger_audit() == [] or ledger_audit() == []
        seen.add((m.status, m.round))
        if m.status == "running" and m.round >= 1:
            held_during = held_during or Claim.objects.filter(instance=inst, kind="migration", host=dst).exists()
        return m.status not in MIGRATION_ACTIVE

    wait_for(poll, timeout=180, interval=0.05, message="the migration to end")
    mig.refresh_from_db()
    inst.refresh_from_db()
    assert mig.status == "completed", mig.reason
    assert held_during, f"never saw a pre-copy round with the destination claim held: {sorted(seen)}"
    assert len({r for s, r in seen if s == "running"}) >= 2  # progress was visible between rounds
    assert list(mig.rounds.values_list("round", flat=True)) == list(range(mig.round)) and mig.round >= 3
    assert mig.rounds.last().stop_and_copy and 0 < mig.downtime_ms <= mig.downtime_limit_ms
    assert (inst.state, inst.task, inst.host_id) == ("running", "", dst.pk) and inst.private_ip != old_ip
    assert list(Claim.objects.filter(instance=inst).values_list("kind", "host_id")) == [("instance", dst.pk)]
    assert ledger_audit() == []


def test_the_destination_failing_mid_migration_leaves_the_guest_on_the_source(celery_worker, pair, user):
    src, _dst = pair
    inst = running_on(user, src)
    mig = final(svc.migration_start(actor="root", instance=inst,
                                    fault={"kind": "destination_failure", "at_round": 1}))
    assert "destination host failed during round 1" in mig.reason
    assert mig.rounds.filter(round=1, aborted=True).exists()
    assert_on_source(mig, "failed")


def test_a_non_converging_guest_fails_with_its_cause(celery_worker, host_factory, user):
    src, dst = host_factory("nc-src"), host_factory("nc-dst")
    Host.objects.filter(pk__in=[src.pk, dst.pk]).update(nic_mibps=20.0)
    inst = running_on(user, Host.objects.get(pk=src.pk), appliance="mysql-8", itype="t3.medium")
    mig = final(svc.migration_start(actor="root", instance=inst))
    assert mig.reason.startswith("did not converge: dirty rate 150 MiB/s exceeds bandwidth 20 MiB/s"), mig.reason
    assert not mig.converging and mig.eta_s is None
    assert_on_source(mig, "failed")


def test_abort_during_precopy(sim_worker, pair, user):
    src, _dst = pair
    inst = running_on(user, src)
    mig = svc.migration_start(actor="root", instance=inst)
    wait_for(lambda: Migration.objects.filter(pk=mig.pk, status="running", round__gte=1).exists(), timeout=120,
             interval=0.05, message="pre-copy to be under way")
    svc.migration_abort(actor="root", migration=mig)
    wait_for(lambda: sim_worker.queued() == 0, timeout=60, message="the worker to drop the stale round")
    mig.refresh_from_db()
    assert mig.reason.startswith("aborted by root during running")
    assert_on_source(mig, "cancelled")


def test_a_worker_sigkilled_mid_migration_is_healed_by_the_reconciler(sim_worker, pair, user):
    src, dst = pair
    inst = running_on(user, src)
    mig = svc.migration_start(actor="root", instance=inst)
    wait_for(lambda: Migration.objects.filter(pk=mig.pk, status="running", round__gte=1).exists(), timeout=120,
             interval=0.05, message="pre-copy to be under way")
    sim_worker.kill()
    mig.refresh_from_db()
    assert mig.status == "running", "the kill must land mid-migration"
    assert ledger_audit() == []  # the destination's room is still held, and accounted for
    sim_worker.start()  # a fresh worker: the dead one's reserved round is lost

    def healed() -> bool:
        if Migration.objects.filter(pk=mig.pk, status__in=MIGRATION_ACTIVE).exists():
            reconcile(now=timezone.now() + timedelta(seconds=engine.step_grace_s(60) + 60))
            return False
        return True

    wait_for(healed, timeout=180, interval=0.5, message="the reconciler to resume or fail the migration")
    mig = final(mig)
    if mig.status == "completed":  # resumed from the round it had recorded
        inst.refresh_from_db()
        assert (inst.state, inst.host_id) == ("running", dst.pk)
        assert list(mig.rounds.values_list("round", flat=True)) == list(range(mig.round))
        assert ledger_audit() == []
    else:
        assert_on_source(mig, "failed")
    assert Event.objects.filter(instance=inst, action="migration.redrive").exists()
