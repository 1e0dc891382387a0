"""Live migration of a running instance: start, abort, force-complete, and how one ends.

The rules: the destination is chosen by the same filters and weighers as a launch (the source
excluded, the guest's zone and mode kept), or named by staff and checked by the same filters;
its capacity is claimed for the whole move (`ClaimKind.MIGRATION`); the instance stays `running`
with task `migrating`; on completion its claim, host, address and switch port move in ONE
transaction; any failure leaves the guest running on the source and releases the destination's
claim, with an event. The rounds themselves run on the step engine (`pipeline/migration_steps.py`).

Lock order, everywhere: the migration row, then its instance, then host rows. Instance steps never
lock a migration row (a terminate only releases the destination claim; the migration's next step
sees the instance gone and ends). Host rows are locked FOR NO KEY UPDATE, as a claim locks them:
a transaction that only references a host (a new migration, claim or event: PostgreSQL's foreign-key
check at its COMMIT) never waits for them, so a switch-over and a maintenance starting the next
migration to its destination cannot deadlock.
"""
from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import driver
from ..choices import MIGRATION_ACTIVE, ClaimKind, InstanceState, MigrationStatus, TaskState
from ..db import Compiled, row_update, rows_insert
from ..exceptions import InsufficientCapacity, InvalidRequest, InvalidState, NotFound, SkyportError
from ..models import Claim, Host, Instance, Migration
from ..pipeline.engine import step_dispatch, step_insert, step_prepare, step_schedule
from ..placement import PlacementRequest, candidates, explain
from ..placement.scheduler import host_refusals
from ..units import mib_label
from .claims import claim_first, claim_release, claim_switch
from .events import event_build, event_record, events_record
from .hosts import version_key
from .migration_rounds import HOSTS_LOCK
from .place import address_allocate, hostname_for

FORCE_MODES = ("auto_converge", "stop_and_copy")
GIB = 1024 ** 3


def _setting(name: str, default):
    return getattr(settings, name, default)


def _request(inst: Instance) -> PlacementRequest:
    """The launch's placement request for this guest, where it may go now: same zone and mode, not here."""
    return PlacementRequest(appliance=inst.appliance, instance_type=inst.instance_type,
                            availability_zone=inst.availability_zone, virt_mode=inst.virt_mode,
                            placement_group=inst.placement_group, exclude_host_ids=[inst.host_id])


def _host_get(ref: Host | str | int) -> Host:
    if isinstance(ref, Host):
        ref = ref.pk  # read it afresh: its state and version decide
    host = Host.objects.filter(name=str(ref)).first() or (
        Host.objects.filter(pk=int(ref)).first() if str(ref).isdigit() else None)
    if host is None:
        raise InvalidRequest({"destination": f"No host named '{ref}'. Give a host name from the fleet."})
    return host


def destination_refusals(*, instance: Instance, host: Host) -> list[dict]:
    """Why `host` cannot take `instance` now, per filter (empty when it can): the launch's filters plus
    the live-migration rule that a destination must not run an older hypervisor than the source."""
    if host.pk == instance.host_id:
        return [{"filter": "source", "text": "is the host the instance runs on now"}]
    out = host_refusals(_request(instance), host)
    if version_key(host.hypervisor_version) < version_key(instance.host.hypervisor_version):
        out.append({"filter": "hypervisor_version",
                    "text": f"runs hypervisor {host.hypervisor_version}, older than the source's "
                            f"{instance.host.hypervisor_version}"})
    return out


def _claim_destination(inst: Instance, destination: Host | str | int | None) -> Claim:
    req = _request(inst)
    if destination is not None:
        host = _host_get(destination)
        refusals = destination_refusals(instance=inst, host=host)
        if refusals:
            raise InvalidRequest({"destination": f"{host.name} cannot take {inst.public_id}: "
                                  + "; ".join(r["text"] for r in refusals) + "."})
        host_ids = [host.pk]
    else:
        source_version = version_key(inst.host.hypervisor_version)
        host_ids = [c.host_id for c in candidates(req)
                    if version_key(c.row.hypervisor_version) >= source_version]
    claim = claim_first(instance=inst, host_ids=host_ids, kind=ClaimKind.MIGRATION)
    if claim is None:
        why = explain(req)
        raise InsufficientCapacity(f"No destination for {inst.public_id}: " + why["message"], explanation=why)
    return claim


def _downtime_limit(downtime_limit_ms: float | None) -> float:
    limit = float(downtime_limit_ms or _setting("SKYPORT_MIGRATION_DOWNTIME_MS", 500.0))
    if limit <= 0:
        raise InvalidRequest({"downtime_limit_ms": "Give a positive downtime limit in milliseconds (e.g. 500)."})
    return limit


def _start_refusal(inst: Instance) -> SkyportError | None:
    """Why this (locked) instance cannot start a live migration now (None when it can)."""
    if inst.state != InstanceState.RUNNING or inst.host_id is None:
        return InvalidState(f"Instance {inst.public_id} cannot be live-migrated: it is {inst.state}; "
                            "only a running instance can be.")
    if inst.task or inst.step:
        return InvalidState(f"Instance {inst.public_id} is busy ({inst.get_task_display() or inst.step}); "
                            "migrate it when that has finished.")
    pinned = driver.live_migration_blocker(inst.instance_type)
    if pinned:
        return InvalidState(f"Instance {inst.public_id} ({inst.instance_type.name}) cannot be live-migrated: "
                            f"{pinned}. Stop it first: a stopped instance moves without a memory copy.")
    return None


@transaction.atomic
def migration_start(*, actor: str, instance: Instance, destination: Host | str | int | None = None,
                    note: str = "", downtime_limit_ms: float | None = None, auto_converge: bool | None = None,
                    fault: dict | None = None) -> Migration:
    """Start a live migration of a running instance (staff). `fault` injects a simulator fault
    ({"kind": "destination_failure", "at_round": 2}) for drills and tests."""
    inst = _START_LOCK.first(instance.pk)
    if inst is None:
        raise NotFound(f"Instance {instance.public_id} does not exist.")
    refusal = _start_refusal(inst)
    if refusal is not None:
        raise refusal
    limit = _downtime_limit(downtime_limit_ms)
    problem = driver.migration_fault_check(fault) if fault is not None else ""
    if problem or (fault is not None and not isinstance(fault, dict)):
        raise InvalidRequest({"fault": problem or "Give the fault as an object."})
    claim = _claim_destination(inst, destination)
    return _migrations_write(actor, [(inst, claim)], note=note, named=destination is not None, limit=limit,
                             auto_converge=auto_converge, fault=fault)[0]


@transaction.atomic
def migrations_start(*, actor: str, instances: list[Instance], note: str = "") -> list[Migration | SkyportError]:
    """Start live migrations of several running instances at once, each to the host the scheduler
    chooses (a maintenance's evacuate): for each instance, its migration or the error `migration_start`
    would have raised (the others go on). One transaction; the instances are locked in one statement
    and the migrations, the instances' task and the events are written in one statement each, so a
    batch costs two statements per guest (its candidates and its claim) instead of nine."""
    limit = _downtime_limit(None)
    rows = (Instance.objects.select_for_update(of=("self",)).select_related(*_START_RELATED)
            .filter(pk__in=[i.pk for i in instances]).order_by("pk"))
    locked = {inst.pk: inst for inst in rows}
    out: list = []
    for instance in instances:
        inst = locked.get(instance.pk)
        error = _start_refusal(inst) if inst is not None else NotFound(f"Instance {instance.public_id} does not exist.")
        if error is None:
            try:
                out.append((inst, _claim_destination(inst, None)))
                continue
            except SkyportError as exc:
                error = exc
        out.append(error)
    written = iter(_migrations_write(actor, [r for r in out if isinstance(r, tuple)], note=note, named=False,
                                     limit=limit, auto_converge=None, fault=None))
    return [next(written) if isinstance(r, tuple) else r for r in out]


def _migrations_write(actor: str, moves: list[tuple[Instance, Claim]], *, note: str, named: bool, limit: float,
                      auto_converge: bool | None, fault: dict | None) -> list[Migration]:
    """The migration records of locked instances whose destination is claimed: inserted with their
    first step (sent on commit), the instances marked migrating, an event each."""
    if not moves:
        return []
    dests = Host.objects.in_bulk({claim.host_id for _, claim in moves})
    auto = _setting("SKYPORT_MIGRATION_AUTO_CONVERGE", False) if auto_converge is None else bool(auto_converge)
    per_gib = _setting("SKYPORT_MIGRATION_COMPLETION_TIMEOUT_PER_GIB_S", 800.0)
    migs, countdowns = [], []
    for inst, claim in moves:
        it = inst.instance_type
        mig = Migration(
            instance=inst, source_host=inst.host, dest_host=dests[claim.host_id], requested_by=actor,
            request_note=note, destination_named=named, downtime_limit_ms=limit, auto_converge=auto,
            completion_timeout_s=per_gib * max(1.0, it.memory_mib / 1024),
            progress_timeout_s=_setting("SKYPORT_MIGRATION_PROGRESS_TIMEOUT_S", 150.0),
            memory_total_bytes=it.memory_mib * 1024 * 1024, sim_state={"fault": fault} if fault else {},
        )
        countdowns.append(step_prepare(mig, "admit"))  # written with the INSERT, sent on commit
        migs.append(mig)
    rows_insert(migs)
    for mig, countdown in zip(migs, countdowns, strict=True):
        step_dispatch(mig, countdown)
    now = timezone.now()
    Instance.objects.filter(pk__in=[inst.pk for inst, _ in moves]).update(task=TaskState.MIGRATING, updated_at=now)
    how = "named by " + actor if named else "chosen by the scheduler"
    events = []
    for mig in migs:
        inst = mig.instance
        inst.task, inst.updated_at = TaskState.MIGRATING, now
        events.append(event_build(
            action="migration.accepted", instance=inst, actor=actor,
            message=f"Live migration {mig.public_id} from {inst.host.name} to {mig.dest_host.name} ({how}) "
                    f"accepted; {mib_label(inst.instance_type.memory_mib)} of memory to copy, "
                    f"downtime limit {limit:g} ms",
            data={"migration": mig.public_id, "destination": mig.dest_host.name, "note": note}))
    events_record(events)
    return migs


# --------------------------------------------------------------------------- used by the steps
# The statements every migration runs, built once (`Compiled`).
_START_RELATED = ("host", "appliance", "instance_type", "placement_group")
_START_LOCK = Compiled(lambda pk: Instance.objects.select_for_update(of=("self",)).order_by()
                       .select_related(*_START_RELATED).filter(pk=pk))
# Queued migrations on either host, to wake (rows another transaction holds are skipped: it is running them).
_QUEUED_LOCK = Compiled(lambda a, b, me: Migration.objects.select_for_update(skip_locked=True)
                        .filter(status=MigrationStatus.QUEUED, step="admit").exclude(pk=me)
                        .filter(Q(source_host_id__in=[a, b]) | Q(dest_host_id__in=[a, b])).order_by("pk")
                        .only("pk", "step", "step_seq", "step_attempts", "step_due_at", "step_unsent_at", "updated_at"))
_INSTANCE_LOCKS: dict[tuple[str, ...], Compiled] = {}


def _instance_rows(related: tuple[str, ...]):
    rows = Instance.objects.select_for_update(of=("self",)).order_by()
    # (select_related() with no names would join every foreign key, recursively)
    return rows.select_related(*related) if related else rows


def instance_lock(mig: Migration, *related: str) -> Instance:
    """The migration's instance, locked (after the migration row: the one lock order). Its own
    columns only, plus `related` (prepare reads the appliance and type); while it is on the source,
    its host is the migration's source row (already read with the migration)."""
    lock = _INSTANCE_LOCKS.get(related)
    if lock is None:
        lock = _INSTANCE_LOCKS[related] = Compiled(lambda pk: _instance_rows(related).filter(pk=pk))
    inst = lock.first(mig.instance_id)
    if inst is None:
        raise Instance.DoesNotExist(f"instance {mig.instance_id} of {mig.public_id}")
    return instance_placed(mig, inst)


def instance_placed(mig: Migration, inst: Instance) -> Instance:
    """`inst` as the migration's instance; while it is on the source, its host is the migration's
    source row (already read with the migration)."""
    if inst.host_id == mig.source_host_id:
        inst.host = mig.source_host
    mig.instance = inst
    return inst


def instance_problem(mig: Migration, inst: Instance) -> str:
    """Why the migration cannot go on for its instance's sake ("" when it can)."""
    if inst.state != InstanceState.RUNNING:
        return f"the instance is {inst.state} now"
    if inst.host_id != mig.source_host_id:
        return "the instance is no longer on the source host"
    return ""


def _wake_queued(mig: Migration) -> None:
    """A slot was freed: queued migrations on these hosts check again now (rows others hold are skipped),
    and so does a maintenance emptying the source (after the commit, without a lock)."""
    for other in _QUEUED_LOCK.rows(mig.source_host_id, mig.dest_host_id, mig.pk):
        step_schedule(other, "admit")
        row_update(other, ["step", "step_seq", "step_attempts", "step_due_at", "updated_at"])
    from ..pipeline.maintenance_steps import maintenance_wake  # it imports this module

    source, status = mig.source_host_id, mig.status
    transaction.on_commit(lambda: maintenance_wake(host_id=source, status=status))


def migration_complete(mig: Migration, inst: Instance, outcome: dict) -> None:
    """Switch-over, in the caller's transaction: claim, host, address and switch port move to the
    destination, the source's claim is released. Raises InvalidState (nothing changed) when the
    destination's address pool is full."""
    # Both hosts locked in id order (as admission does), before the claims change their figures.
    hosts = {h.pk: h for h in HOSTS_LOCK.rows(mig.source_host_id, mig.dest_host_id)}
    dest, source = hosts[mig.dest_host_id], hosts[mig.source_host_id]
    ip = address_allocate(dest)
    if ip is None:
        raise InvalidState(f"{dest.name} has no free private address left")
    claim_switch(instance=inst)
    old_ip = inst.private_ip
    inst.host, inst.private_ip, inst.hostname, inst.task = dest, ip, hostname_for(inst, ip), TaskState.NONE
    inst.boot_plan = {**inst.boot_plan, "applied": driver.port_move(inst.boot_plan.get("applied") or {}, dest, ip)}
    downtime = outcome.get("downtime_ms") or 0.0
    line = (f"[{inst.hostname}] live-migrated from {source.name} to {dest.name}: paused {downtime:.0f} ms; "
            f"address {old_ip} -> {ip}, switch port moved")
    inst.console_log = f"{inst.console_log}\n{line}" if inst.console_log else line
    row_update(inst, ["host", "private_ip", "hostname", "task", "boot_plan", "console_log", "updated_at"])
    mig.status, mig.finished_at, mig.downtime_ms = MigrationStatus.COMPLETED, timezone.now(), downtime
    mig.reason = outcome.get("reason", "")
    step_insert(event_build(
        action="migration.completed", instance=inst,
        message=f"Live-migrated to {dest.name} at {ip} (was {source.name} at {old_ip}); "
                f"downtime {downtime:.0f} ms; capacity released on {source.name}",
        data={"migration": mig.public_id, "source": source.name, "destination": dest.name,
              "downtime_ms": downtime, "rounds": mig.round}))
    _wake_queued(mig)


def migration_end(mig: Migration, reason: str, *, status: str = MigrationStatus.FAILED, actor: str = "system") -> None:
    """End an unfinished migration (failed / cancelled / error): the guest stays running on the
    source, the destination's claim is released, an event says why. Caller holds the migration row
    and saves it; this locks the instance."""
    inst = instance_lock(mig)
    if mig.sim_state.get("v"):
        mig.sim_state, _ = driver.migration_end(mig.sim_state, cancelled=status == MigrationStatus.CANCELLED,
                                                reason=reason)
    released = claim_release(instance=inst, kind=ClaimKind.MIGRATION)
    if inst.task == TaskState.MIGRATING:
        inst.task = TaskState.NONE
        inst.save(update_fields=["task", "updated_at"])
    mig.status, mig.reason, mig.finished_at = status, reason, timezone.now()
    mig.eta_s, mig.converging = None, False
    if mig.step:
        step_prepare(mig, None)  # any message still on its way finds the sequence moved on
    where = f"keeps running on {mig.source_host.name}" if inst.state == InstanceState.RUNNING \
        else f"is {inst.state}"
    verb = {"cancelled": "was cancelled", "error": "ended in error"}.get(status, "failed")
    step_insert(event_build(
        action=f"migration.{status}", instance=inst, actor=actor,
        level="warning" if status == MigrationStatus.CANCELLED else "error",
        message=f"Live migration {mig.public_id} to {mig.dest_host.name} {verb}: {reason}. "
                f"The guest {where}" + (f"; the capacity held on {mig.dest_host.name} was released."
                                        if released else "."),
        data={"migration": mig.public_id, "status": status, "round": mig.round}))
    _wake_queued(mig)


def _locked(migration: Migration) -> Migration:
    mig = (Migration.objects.select_for_update(of=("self",)).select_related("source_host", "dest_host")
           .filter(pk=migration.pk).first())
    if mig is None:
        raise NotFound(f"Migration {migration.public_id} does not exist.")
    return mig


@transaction.atomic
def migration_abort(*, actor: str, migration: Migration) -> Migration:
    """Cancel a migration in any unfinished status; the guest stays on the source (Nova's abort)."""
    mig = _locked(migration)
    if mig.status not in MIGRATION_ACTIVE:
        raise InvalidState(f"Migration {mig.public_id} has already ended ({mig.status}); nothing to abort.")
    migration_end(mig, f"aborted by {actor} during {mig.status}", status=MigrationStatus.CANCELLED, actor=actor)
    mig.save()
    return mig


def _force_check(mig: Migration, mode: str) -> None:
    if mode not in FORCE_MODES:
        raise InvalidRequest({"mode": f"Use one of: {', '.join(FORCE_MODES)}."})
    if mig.status != MigrationStatus.RUNNING or not mig.sim_state.get("v"):
        raise InvalidState(f"Migration {mig.public_id} is {mig.status}; force-complete needs a running migration.")
    if mig.force_mode == "stop_and_copy":
        raise InvalidState(f"Migration {mig.public_id} already switches over with its next round.")


def migration_force_preview(*, migration: Migration, mode: str) -> dict:
    """What force-complete would cost, before it is applied: the predicted downtime of a stop-and-copy
    now, or the throttle auto-converge starts at."""
    mig = Migration.objects.get(pk=migration.pk)
    _force_check(mig, mode)
    return driver.migration_preview(mig.sim_state, mode, mig.next_bandwidth_mibps or None)


@transaction.atomic
def migration_force_complete(*, actor: str, migration: Migration, mode: str = "auto_converge") -> dict:
    """Force a running migration to finish from its next round (Nova's force_complete): "stop_and_copy"
    pauses the guest for the predicted downtime; "auto_converge" throttles it until it converges."""
    mig = _locked(migration)
    _force_check(mig, mode)
    preview = driver.migration_preview(mig.sim_state, mode, mig.next_bandwidth_mibps or None)
    mig.sim_state, applied = driver.migration_force(mig.sim_state, mode)
    mig.force_mode = mode
    mig.predicted_downtime_ms = preview["predicted_downtime_ms"]
    mig.save(update_fields=["sim_state", "force_mode", "predicted_downtime_ms", "updated_at"])
    what = (f"stop-and-copy with the next round, predicted downtime {preview['predicted_downtime_ms']:.0f} ms"
            if mode == "stop_and_copy" else f"auto-converge now, throttling the guest to {applied['throttle_pct']:g} %")
    event_record(action="migration.force_complete", instance=mig.instance, actor=actor,
                 message=f"Force-complete of {mig.public_id}: {what}",
                 data={"migration": mig.public_id, **preview, **applied})
    return {**preview, **applied}
