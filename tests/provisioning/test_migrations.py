"""Live migration driven inline (the real steps through `drain`/`engine.step_advance`, no broker)."""
from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from provisioning.exceptions import InsufficientCapacity, InvalidRequest, InvalidState
from provisioning.models import Claim, Event, Host, Instance, Migration
from provisioning.pipeline import engine
from provisioning.pipeline.reconciler import RETRY_BUDGET, reconcile
from provisioning.selectors import migration_get, migration_list
from provisioning.services import migrations as svc
from provisioning.services.claims import ledger_audit
from provisioning.services.launch import instance_launch
from tests.fixtures_domain import drain

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(host_factory):
    """Two hosts on a slow (80 MiB/s) link, so a 2 GiB guest needs several rounds."""
    a, b = host_factory("src-1"), host_factory("dst-1")
    Host.objects.filter(pk__in=[a.pk, b.pk]).update(nic_mibps=80.0)
    return Host.objects.get(pk=a.pk), Host.objects.get(pk=b.pk)


def running(user, host: Host, itype: str = "t3.small", appliance: str = "ubuntu-lamp") -> Instance:
    """A running instance on `host` (the other hosts are disabled while it is placed)."""
    others = list(Host.objects.exclude(pk=host.pk).filter(state="enabled").values_list("pk", flat=True))
    Host.objects.filter(pk__in=others).update(state="disabled")
    inst = instance_launch(user=user, appliance=appliance, instance_type=itype).reservation.instances.get()
    Host.objects.filter(pk__in=others).update(state="enabled")
    drain()
    inst.refresh_from_db()
    assert inst.state == "running" and inst.host_id == host.pk
    return inst


def test_an_sr_iov_guest_is_refused_with_the_cause_and_nothing_claimed(pair, user):
    src, _dst = pair
    inst = running(user, src, itype="c5n.large")
    claims = list(Claim.objects.values_list("instance_id", "kind", "host_id"))
    with pytest.raises(InvalidState) as err:
        svc.migration_start(actor="root", instance=inst)
    assert "SR-IOV" in err.value.message and "Stop it first" in err.value.message
    assert not Migration.objects.exists()
    assert list(Claim.objects.values_list("instance_id", "kind", "host_id")) == claims and ledger_audit() == []
    inst.refresh_from_db()
    assert (inst.state, inst.task, inst.host_id) == ("running", "", src.pk)


def advance(mig: Migration) -> str:
    mig.refresh_from_db()
    return engine.step_advance(kind="migration", object_id=mig.pk, seq=mig.step_seq)


def test_a_migration_moves_claim_host_address_and_port_and_records_every_round(pair, user):
    src, dst = pair
    inst = running(user, src)
    old_ip = inst.private_ip
    assert ledger_audit() == []
    mig = svc.migration_start(actor="root", instance=inst)
    assert (mig.status, mig.dest_host_id, mig.step) == ("accepted", dst.pk, "admit")
    inst.refresh_from_db()
    assert (inst.state, inst.task) == ("running", "migrating")
    assert Claim.objects.get(instance=inst, kind="migration").host_id == dst.pk
    assert ledger_audit() == []
    polls = 0
    while advance(mig) == "done":
        polls += 1
        inst.refresh_from_db()
        assert inst.state == "running"
        assert ledger_audit() == []
        mig.refresh_from_db()
        if mig.status == "running" and mig.round >= 1:
            assert inst.host_id == src.pk and Claim.objects.filter(instance=inst, kind="migration").exists()
    mig.refresh_from_db()
    inst.refresh_from_db()
    assert mig.status == "completed", mig.reason
    assert mig.round >= 3 and polls == mig.round + 2  # admit, prepare, then one step per round
    rounds = list(mig.rounds.order_by("round"))
    assert [r.round for r in rounds] == list(range(mig.round))
    assert rounds[0].sent_mib == pytest.approx(2048) and rounds[-1].stop_and_copy
    assert all(not r.stop_and_copy for r in rounds[:-1])
    assert mig.downtime_ms is not None and 0 < mig.downtime_ms <= mig.downtime_limit_ms
    assert mig.memory_processed_bytes > mig.memory_total_bytes == 2048 * 2**20
    assert mig.memory_remaining_bytes == 0 and mig.finished_at is not None and mig.step == ""
    assert (inst.state, inst.task, inst.host_id) == ("running", "", dst.pk)
    assert ipaddress.ip_address(inst.private_ip) in ipaddress.ip_network(dst.network_cidr)
    assert inst.private_ip != old_ip
    assert inst.hostname == "ip-" + inst.private_ip.replace(".", "-")  # its DNS name follows the address
    assert inst.boot_plan["applied"]["vswitch_port"]["host"] == dst.name
    assert list(Claim.objects.filter(instance=inst).values_list("kind", "host_id")) == [("instance", dst.pk)]
    src.refresh_from_db()
    assert src.instances_used == 0
    assert ledger_audit() == []
    assert Event.objects.filter(instance=inst, action="migration.completed").count() == 1
    assert migration_get(public_id=mig.public_id).rounds.count() == mig.round
    assert list(migration_list(host=src)) == [mig] and list(migration_list(status="running")) == []


def test_a_named_destination_is_checked_by_the_launch_filters(pair, host_factory, user):
    src, dst = pair
    inst = running(user, src)
    Host.objects.filter(pk=dst.pk).update(state="disabled")
    small = host_factory("small-1", memory_gib=3)
    with pytest.raises(InvalidRequest) as err:
        svc.migration_start(actor="root", instance=inst, destination="dst-1")
    assert err.value.errors["destination"] == [f"dst-1 cannot take {inst.public_id}: is disabled."]
    with pytest.raises(InvalidRequest, match="lacks memory"):
        svc.migration_start(actor="root", instance=inst, destination=small)
    with pytest.raises(InvalidRequest, match="is the host the instance runs on now"):
        svc.migration_start(actor="root", instance=inst, destination=src)
    with pytest.raises(InvalidRequest, match="fault kind must be one of destination_failure, link_failure"):
        svc.migration_start(actor="root", instance=inst, fault={"kind": "meteor", "at_round": 1})
    with pytest.raises(InvalidRequest, match="No host named 'nope'"):
        svc.migration_start(actor="root", instance=inst, destination="nope")
    Host.objects.filter(pk=dst.pk).update(hypervisor_version="0.9")
    Host.objects.filter(pk=dst.pk).update(state="enabled")
    with pytest.raises(InvalidRequest, match="runs hypervisor 0.9, older than the source's 1.0"):
        svc.migration_start(actor="root", instance=inst, destination=dst)
    with pytest.raises(InsufficientCapacity, match=f"No destination for {inst.public_id}"):
        svc.migration_start(actor="root", instance=inst)  # the only other host with room is older
    assert not Migration.objects.exists() and ledger_audit() == []
    inst.refresh_from_db()
    assert inst.task == ""


def test_only_a_running_idle_instance_migrates_and_only_once(pair, user):
    src, _dst = pair
    inst = running(user, src)
    svc.migration_start(actor="root", instance=inst)
    with pytest.raises(InvalidState, match="busy"):
        svc.migration_start(actor="root", instance=inst)
    drain()
    from provisioning.services.instances import instance_action

    instance_action(user=user, instance=inst, action="stop")
    drain()
    with pytest.raises(InvalidState, match="it is stopped; only a running instance"):
        svc.migration_start(actor="root", instance=inst)


def test_abort_during_precopy_leaves_the_guest_on_the_source(pair, user):
    src, dst = pair
    inst = running(user, src)
    mig = svc.migration_start(actor="root", instance=inst)
    while mig.round < 2:
        assert advance(mig) == "done"
        mig.refresh_from_db()
    seq = mig.step_seq
    svc.migration_abort(actor="root", migration=mig)
    mig.refresh_from_db()
    inst.refresh_from_db()
    assert mig.status == "cancelled" and mig.reason.startswith("aborted by root during running")
    assert (inst.state, inst.task, inst.host_id) == ("running", "", src.pk)
    assert not Claim.objects.filter(instance=inst, kind="migration").exists()
    assert engine.step_advance(kind="migration", object_id=mig.pk, seq=seq) == "stale"
    assert ledger_audit() == []
    event = Event.objects.get(instance=inst, action="migration.cancelled")
    assert f"keeps running on {src.name}" in event.message and f"held on {dst.name} was released" in event.message
    with pytest.raises(InvalidState, match="already ended"):
        svc.migration_abort(actor="root", migration=mig)


def test_an_injected_destination_failure_fails_it_cleanly(pair, user):
    src, _dst = pair
    inst = running(user, src)
    mig = svc.migration_start(actor="root", instance=inst, fault={"kind": "destination_failure", "at_round": 1})
    drain()
    mig.refresh_from_db()
    inst.refresh_from_db()
    assert mig.status == "failed" and "destination host failed during round 1" in mig.reason
    assert (inst.state, inst.task, inst.host_id) == ("running", "", src.pk)
    assert mig.rounds.filter(aborted=True).count() == 1
    assert ledger_audit() == []


def test_a_non_converging_guest_fails_with_the_cause(host_factory, user):
    src, dst = host_factory("slow-a"), host_factory("slow-b")
    Host.objects.filter(pk__in=[src.pk, dst.pk]).update(nic_mibps=20.0)  # below the guest's dirty rate
    inst = running(user, Host.objects.get(pk=src.pk), itype="t3.medium", appliance="mysql-8")
    mig = svc.migration_start(actor="root", instance=inst)
    drain()
    mig.refresh_from_db()
    inst.refresh_from_db()
    assert mig.status == "failed"
    assert mig.reason.startswith("did not converge: dirty rate 150 MiB/s exceeds bandwidth 20 MiB/s"), mig.reason
    assert (inst.state, inst.host_id) == ("running", src.pk) and ledger_audit() == []


def test_excess_migrations_wait_in_queued_and_say_for_what(pair, host_factory, user, settings):
    settings.SKYPORT_MIGRATION_SLOTS = 1
    src, _dst = pair
    first, second = running(user, src), running(user, src)
    m1 = svc.migration_start(actor="root", instance=first)
    m2 = svc.migration_start(actor="root", instance=second)
    assert advance(m1) == "done" and advance(m2) == "done"
    m1.refresh_from_db()
    m2.refresh_from_db()
    assert (m1.status, m2.status) == ("preparing", "queued")
    assert m2.reason == f"waiting for a migration slot on src-1: 1 of 1 in use on its 1 GbE link ({m1.public_id})"
    drain()
    m1.refresh_from_db()
    m2.refresh_from_db()
    assert (m1.status, m2.status) == ("completed", "completed")
    assert m2.preparing_at >= m1.finished_at
    assert ledger_audit() == []


def test_force_complete_shows_the_downtime_before_it_applies_it(pair, user):
    src, dst = pair
    inst = running(user, src, itype="t3.medium", appliance="mysql-8")
    mig = svc.migration_start(actor="root", instance=inst)
    while mig.status != "running" or mig.round < 1:
        assert advance(mig) == "done"
        mig.refresh_from_db()
    with pytest.raises(InvalidRequest, match="Use one of: auto_converge, stop_and_copy"):
        svc.migration_force_preview(migration=mig, mode="now")
    preview = svc.migration_force_preview(migration=mig, mode="stop_and_copy")
    assert preview["predicted_downtime_ms"] > mig.downtime_limit_ms  # why it had not switched over yet
    applied = svc.migration_force_complete(actor="root", migration=mig, mode="stop_and_copy")
    assert applied["predicted_downtime_ms"] == preview["predicted_downtime_ms"]
    assert advance(mig) == "done"
    mig.refresh_from_db()
    assert mig.status == "completed" and mig.downtime_ms == pytest.approx(preview["predicted_downtime_ms"])
    assert "forced by the operator" in mig.reason
    inst.refresh_from_db()
    assert inst.host_id == dst.pk and ledger_audit() == []


def test_the_reconciler_redrives_a_stuck_migration_then_fails_it_cleanly(pair, user, _capture_dispatch,
                                                                         django_capture_on_commit_callbacks):
    src, _dst = pair
    inst = running(user, src)
    mig = svc.migration_start(actor="root", instance=inst)
    for _ in range(RETRY_BUDGET):
        mig.refresh_from_db()
        _capture_dispatch.clear()
        with django_capture_on_commit_callbacks(execute=True):
            assert reconcile(now=mig.step_due_at + timedelta(seconds=1)).redriven == [mig.public_id]
        assert _capture_dispatch == [("migration", mig.pk, mig.step_seq, 0.0)]
    mig.refresh_from_db()
    assert reconcile(now=mig.step_due_at + timedelta(seconds=1)).failed == [mig.public_id]
    mig.refresh_from_db()
    inst.refresh_from_db()
    assert mig.status == "failed" and mig.reason.endswith("the guest stays on the source and the destination's "
                                                          "claim is released.")
    assert (inst.state, inst.task, inst.host_id) == ("running", "", src.pk)
    assert ledger_audit() == []


def test_terminating_a_migrating_instance_ends_the_migration(pair, user):
    src, _dst = pair
    inst = running(user, src)
    mig = svc.migration_start(actor="root", instance=inst)
    advance(mig)
    from provisioning.services.instances import instance_action

    instance_action(user=user, instance=inst, action="terminate")
    drain()
    mig.refresh_from_db()
    inst.refresh_from_db()
    assert inst.state == "terminated" and mig.status == "failed"
    assert mig.reason == "the instance is shutting-down now"
    assert not Claim.objects.filter(instance=inst).exists() and ledger_audit() == []


def test_the_ledger_audit_and_the_reconciler_know_migration_claims(pair, user):
    src, _dst = pair
    inst = running(user, src)
    mig = svc.migration_start(actor="root", instance=inst)
    Migration.objects.filter(pk=mig.pk).update(status="failed", step="")  # as if a bug skipped the release
    assert ledger_audit() == [f"migration claim of {inst.public_id} on host {mig.dest_host_id} has no unfinished "
                              "migration to that host"]
    assert reconcile().orphan_claims_released == [inst.public_id]
    assert ledger_audit() == []


def test_concurrent_migrations_on_one_link_share_its_bandwidth(pair, user):
    src, _dst = pair
    a, b = running(user, src), running(user, src)
    ma, mb = svc.migration_start(actor="root", instance=a), svc.migration_start(actor="root", instance=b)
    for mig in (ma, mb, ma, mb):  # both admitted, then both prepared: two moves on one 80 MiB/s link
        assert advance(mig) == "done"
    ma.refresh_from_db()
    mb.refresh_from_db()
    assert (ma.status, mb.status) == ("running", "running")
    assert ma.next_bandwidth_mibps == mb.next_bandwidth_mibps == 40.0
    drain()
    ma.refresh_from_db()
    assert ma.rounds.get(round=0).transfer_rate_mibps == 40.0 and ma.status == "completed"
    assert ledger_audit() == []


def test_a_destination_that_goes_down_fails_the_migration(pair, user):
    src, dst = pair
    inst = running(user, src)
    mig = svc.migration_start(actor="root", instance=inst)
    advance(mig)
    advance(mig)
    Host.objects.filter(pk=dst.pk).update(is_up=False)
    drain()
    mig.refresh_from_db()
    inst.refresh_from_db()
    assert (mig.status, mig.reason) == ("failed", "the destination dst-1 went down")
    assert (inst.state, inst.host_id) == ("running", src.pk) and ledger_audit() == []


def test_progress_names_each_stage_for_pages(pair, user):
    from provisioning.pipeline.migration_steps import progress

    src, _dst = pair
    mig = svc.migration_start(actor="root", instance=running(user, src))
    assert [s["status"] for s in progress(mig)] == ["current", "todo", "todo", "todo"]
    advance(mig)
    advance(mig)
    mig.refresh_from_db()
    assert [(s["step"], s["status"]) for s in progress(mig)][1:3] == [("prepare", "done"), ("precopy", "current")]
    svc.migration_abort(actor="root", migration=mig)
    mig.refresh_from_db()
    assert [s["status"] for s in progress(mig)] == ["done", "done", "failed", "todo"]
    other = svc.migration_start(actor="root", instance=mig.instance)
    drain()
    other.refresh_from_db()
    assert other.status == "completed" and {s["status"] for s in progress(other)} == {"done"}


def test_several_migrations_start_in_one_call_each_with_its_migration_or_its_refusal(pair, user):
    """A maintenance's evacuate starts its batch at once: one lock statement and one write per table for the
    batch, two statements per guest (its candidates and its claim); a guest that cannot move gets the error
    a single start would raise, and the others go on."""
    src, dst = pair
    guests = [running(user, src) for _ in range(3)]
    Instance.objects.filter(pk=guests[1].pk).update(task="rebooting")
    with CaptureQueriesContext(connection) as ctx:
        out = svc.migrations_start(actor="maintenance m-1", instances=guests, note="maintenance of src-1")
    mine = [q for q in ctx.captured_queries if "SAVEPOINT" not in (q["sql"] or "")]
    assert len(mine) <= 5 + 2 * len(guests)
    assert isinstance(out[1], InvalidState) and "busy" in out[1].message
    for inst, mig in ((guests[0], out[0]), (guests[2], out[2])):
        assert isinstance(mig, Migration) and mig.pk and (mig.status, mig.step, mig.dest_host_id) == (
            "accepted", "admit", dst.pk)
        assert Migration.objects.get(pk=mig.pk).request_note == "maintenance of src-1"
        assert Instance.objects.get(pk=inst.pk).task == "migrating"
        assert Event.objects.filter(instance=inst, action="migration.accepted", actor="maintenance m-1").count() == 1
    assert not Migration.objects.filter(instance=guests[1]).exists() and ledger_audit() == []
    drain()
    assert set(Migration.objects.values_list("status", flat=True)) == {"completed"} and ledger_audit() == []
