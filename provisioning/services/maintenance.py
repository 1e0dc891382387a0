"""Host maintenance with zero downtime: preflight, enter, cancel, exit, hypervisor upgrade.

The preflight is a dry run: for every guest on the host, the destination the placement filters give
it (the one judge, as for a launch: the guest's zone and mode kept, the source excluded, the
host's larger guests' claims accounted for first), the memory a live migration copies, and the time
and downtime the simulator predicts for the whole evacuation; or, for a guest that cannot move, why
(the filters' own explanation: no room, mode or CPU class, strict affinity, ...). Entering refuses
unless every guest can move, so nothing moves when the fleet cannot take the host's guests.

Entering puts the host in `entering_maintenance` (no placements) and starts a `maintenance` row on
the step engine (`pipeline/maintenance_steps.py`): its running guests live-migrate (the migration
engine admits them within the per-host and per-link limits, the rest wait `queued`), its stopped
guests are re-homed without a memory copy, and the host becomes `maintenance` only once it is
empty. Cancel drops the queued moves, lets running ones finish (or aborts them) and returns the
host to `enabled`: every guest is running either where it was or where it went.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import driver
from ..choices import (
    LIVE_STATES,
    MAINTENANCE_ACTIVE,
    MIGRATION_ACTIVE,
    ClaimKind,
    HostState,
    MaintenanceStatus,
    MigrationStatus,
)
from ..exceptions import InsufficientCapacity, InvalidRequest, InvalidState, MaintenanceRefused, NotFound
from ..models import Claim, Host, Instance, Maintenance, Migration
from ..pipeline.engine import step_dispatch, step_prepare
from ..placement import PlacementRequest, candidates, explain
from ..placement.scheduler import CANDIDATE_LIMIT
from ..placement.weighers import multiplier
from ..units import mib_label
from .claims import claim_first, claim_release
from .events import event_record
from .hosts import VERSION_RE, version_key
from .migrations import migration_abort
from .place import address_allocate, hostname_for

MOVE, REHOME, LEAVES, WAIT, STUCK = "live-migrate", "re-home", "leaves", "wait", "cannot move"


@dataclass
class GuestPlan:
    instance: str
    name: str
    owner: str
    state: str
    task: str
    vcpus: int
    memory_mib: int
    virt_mode: str
    action: str
    destination: str | None = None
    memory_to_copy_mib: int = 0
    predicted_start_s: float | None = None
    predicted_s: float | None = None
    predicted_downtime_ms: float | None = None
    reason: str = ""


@dataclass
class Preflight:
    host: str
    host_state: str
    feasible: bool
    guests: list[GuestPlan] = field(default_factory=list)
    memory_to_copy_mib: int = 0
    predicted_total_s: float = 0.0
    concurrency: int = 0
    message: str = ""

    @property
    def blocked(self) -> list[GuestPlan]:
        return [g for g in self.guests if g.action == STUCK]

    def to_dict(self) -> dict:
        return asdict(self)


def _setting(name: str, default):
    return getattr(settings, name, default)



def guest_request(inst: Instance, source: Host) -> PlacementRequest:
    """Where this guest may go now: the launch's filters, its zone and mode kept, not its host."""
    return PlacementRequest(appliance=inst.appliance, instance_type=inst.instance_type,
                            availability_zone=inst.availability_zone, virt_mode=inst.virt_mode,
                            placement_group=inst.placement_group, exclude_host_ids=[source.pk])


def _room(row, it, extra: list[int]) -> bool:
    v, m, d, n = extra
    return (row.vcpus_limit - row.vcpus_used - v >= it.vcpus and row.memory_mib_limit - row.memory_mib_used - m
            >= it.memory_mib and row.disk_gib_limit - row.disk_gib_used - d >= it.disk_gib
            and row.max_instances - row.instances_used - n >= 1)


def _destination(inst: Instance, source: Host, added: dict[int, list[int]], live: bool,
                 memo: dict) -> tuple[Host | None, str]:
    """The best-ranked host the filters allow with room left after this plan's earlier guests, or why none."""
    req = guest_request(inst, source)
    options = candidates(req, limit=CANDIDATE_LIMIT + len(added), memo=memo)
    older, fitting = [], []
    for rank, option in enumerate(options):
        host = option.host
        if live and version_key(host.hypervisor_version) < version_key(source.hypervisor_version):
            older.append(host.name)
            continue  # a live migration never goes to an older hypervisor
        extra = added.get(host.pk, [0, 0, 0, 0])
        if _room(option.row, inst.instance_type, extra):
            free_after = option.row.memory_mib_limit - option.row.memory_mib_used - extra[1]
            fitting.append((free_after, -rank, host))
    if fitting:
        # The claims this plan already counted change the free-memory ranking the scheduler will see:
        # spread (the default) takes the most free memory left, stacking the least.
        spread = multiplier("free_memory", 1.0) >= 0
        pick = max(fitting, key=lambda f: (f[0] if spread else -f[0], f[1]))
        return pick[2], ""
    if not options:
        return None, explain(req)["message"]
    if older and len(older) == len(options):
        return None, (f"the hosts with room ({', '.join(older)}) run an older hypervisor than "
                      f"{source.name}'s {source.hypervisor_version}")
    return None, (f"the hosts that could take it ({', '.join(o.host.name for o in options)}) are full once the "
                  f"host's larger guests are placed")


def maintenance_preflight(*, host: Host) -> Preflight:
    """Dry run of emptying `host` (claims nothing, moves nothing)."""
    host = Host.objects.get(pk=host.pk)
    guests = list(Instance.objects.filter(host=host, state__in=LIVE_STATES)
                  .select_related("owner", "appliance", "instance_type", "placement_group")
                  .order_by("-instance_type__memory_mib", "-instance_type__vcpus", "public_id"))
    added: dict[int, list[int]] = {}
    plans: list[GuestPlan] = []
    moves: list[tuple[Instance, Host]] = []
    memo: dict = {}  # nothing is claimed during the dry run: one query per guest shape
    for inst in guests:
        it = inst.instance_type
        plan = GuestPlan(instance=inst.public_id, name=inst.name, owner=inst.owner.username, state=inst.state,
                         task=inst.task, vcpus=it.vcpus, memory_mib=it.memory_mib, virt_mode=inst.virt_mode,
                         action=MOVE)
        plans.append(plan)
        if inst.state == "shutting-down":
            plan.action, plan.reason = LEAVES, "terminating: it leaves the host by itself"
            continue
        live = inst.state in ("running", "pending")
        pinned = driver.live_migration_blocker(it) if live else ""
        if pinned:
            plan.action, plan.reason = STUCK, f"{pinned}; stop it and it is re-homed without a memory copy"
            continue
        dest, why = _destination(inst, host, added, live, memo)
        if dest is None:
            plan.action, plan.reason = STUCK, why
            continue
        extra = added.setdefault(dest.pk, [0, 0, 0, 0])
        for i, amount in enumerate((it.vcpus, it.memory_mib, it.disk_gib, 1)):
            extra[i] += amount
        plan.destination = dest.name
        if live:
            plan.memory_to_copy_mib = it.memory_mib
            moves.append((inst, dest))
            if inst.state == "pending" or inst.task:
                plan.action, plan.reason = WAIT, f"{inst.get_task_display() or inst.state}: moves once it is idle"
        else:
            plan.action = REHOME if inst.state == "stopped" and not inst.task else WAIT
            plan.reason = "stopped: re-homed without a memory copy" if plan.action == REHOME else \
                f"{inst.get_task_display() or inst.state}: moves once it is idle"
    out = Preflight(host=host.name, host_state=host.state, feasible=True, guests=plans,
                    concurrency=int(_setting("SKYPORT_MIGRATION_SLOTS", 0) or driver.migration_slots(host)))
    if moves:
        # The simulator reads each destination's hardware: whole rows, once (a candidate row holds
        # only what placement reads, and each other field would cost a query per guest).
        full = Host.objects.in_bulk({dest.pk for _, dest in moves})
        timing = driver.evacuation_timing(
            host, [(inst, full[dest.pk]) for inst, dest in moves], concurrency=out.concurrency,
            downtime_limit_ms=float(_setting("SKYPORT_MIGRATION_DOWNTIME_MS", 500.0)),
            auto_converge=bool(_setting("SKYPORT_MIGRATION_AUTO_CONVERGE", False)))
        by_id = {m["guest_id"]: m for m in timing["moves"]}
        for plan in plans:
            move = by_id.get(plan.instance)
            if move is None:
                continue
            plan.predicted_start_s = round(move["start_s"], 2)
            plan.predicted_s = round(move["duration_s"], 2)
            plan.predicted_downtime_ms = round(move["downtime_ms"], 1)
            if move["outcome"] != "completed":
                plan.action, plan.reason = STUCK, f"predicted not to complete: {move['reason']}"
        out.predicted_total_s = round(timing["total_s"], 2)
    out.memory_to_copy_mib = sum(p.memory_to_copy_mib for p in plans)
    out.feasible = not out.blocked
    out.message = _preflight_message(out)
    return out


def _preflight_message(p: Preflight) -> str:
    n = len(p.guests)
    if not n:
        return f"{p.host} runs no guest: it can enter maintenance at once."
    moving = [g for g in p.guests if g.action in (MOVE, WAIT) and g.memory_to_copy_mib]
    rehome = [g for g in p.guests if g.destination and not g.memory_to_copy_mib]
    parts = []
    if moving:
        parts.append(f"{len(moving)} to live-migrate ({mib_label(p.memory_to_copy_mib)} to copy, about "
                     f"{p.predicted_total_s:.0f} s simulated, {p.concurrency} at a time)")
    if rehome:
        parts.append(f"{len(rehome)} stopped to re-home")
    head = f"{p.host}: {n} guest(s)" + (f"; {', '.join(parts)}." if parts else ".")
    if p.feasible:
        return head
    stuck = "; ".join(f"{g.instance}: {g.reason}" for g in p.blocked)
    return f"{head} Refused: {len(p.blocked)} guest(s) cannot move. {stuck}"


# --------------------------------------------------------------------------- enter, cancel, exit, upgrade
def maintenance_current(*, host: Host) -> Maintenance | None:
    """The host's active maintenance (entering or in maintenance), if any."""
    return Maintenance.objects.filter(host=host, status__in=MAINTENANCE_ACTIVE).first()


def _lock_host(host: Host) -> Host:
    return Host.objects.select_for_update().get(pk=host.pk)


def maintenance_enter(*, host: Host, actor: str, note: str = "") -> Maintenance:
    """Preflight, then (only if every guest can move) stop placements on the host and start emptying it.

    Raises MaintenanceRefused (409, with the preflight) when a guest cannot move; nothing changes then.
    """
    with transaction.atomic():
        host = _lock_host(host)
        if host.state in (HostState.ENTERING_MAINTENANCE, HostState.MAINTENANCE):
            raise InvalidState(f"{host.name} is already {host.get_state_display()}.")
        plan = maintenance_preflight(host=host)
        if plan.feasible:
            m = _maintenance_start(host, plan, actor=actor, note=note)
    if not plan.feasible:  # the refusal is logged outside the rolled-back transaction
        event_record(action="host.maintenance_refused", host=host, actor=actor, level="warning",
                     message=plan.message, data={"note": note})
        raise MaintenanceRefused(plan.message, preflight=plan.to_dict())
    return m


def _maintenance_start(host: Host, plan: Preflight, *, actor: str, note: str) -> Maintenance:
    """Record the maintenance, dispatch its first step, stop placements on the host (caller's transaction)."""
    m = Maintenance(host=host, requested_by=actor, request_note=note[:255], preflight=plan.to_dict(),
                    guests_total=len(plan.guests), hypervisor_before=host.hypervisor_version,
                    note=plan.message)
    countdown = step_prepare(m, "evacuate")
    m.save(force_insert=True)
    step_dispatch(m, countdown)
    before = host.state
    host.state = HostState.ENTERING_MAINTENANCE
    host.save(update_fields=["state"])
    event_record(action="host.maintenance_entering", host=host, actor=actor,
                 message=f"{host.name} is entering maintenance (was {before}): it takes no new placements; "
                         + plan.message + (f" Why: {note}" if note else ""),
                 data={"maintenance": m.public_id, "note": note, "guests": len(plan.guests)})
    return m


def maintenance_cancel(*, host: Host, actor: str, abort_running: bool = False, note: str = "") -> Maintenance:
    """Stop entering maintenance: drop the queued moves, let the running ones finish (or abort them
    with `abort_running`), and return the host to `enabled`. Every guest keeps running, where it was
    or where its finished migration took it."""
    with transaction.atomic():
        m = Maintenance.objects.select_for_update().filter(host=host, status__in=MAINTENANCE_ACTIVE).first()
        if m is None:
            raise InvalidState(f"{host.name} is not entering maintenance: there is nothing to cancel.")
        if m.status == MaintenanceStatus.IN_MAINTENANCE:
            raise InvalidState(f"{host.name} is already in maintenance (empty): exit maintenance instead.")
        locked = _lock_host(host)
        m.status, m.finished_at = MaintenanceStatus.CANCELLED, timezone.now()
        m.reason = f"cancelled by {actor}" + (f": {note}" if note else "")
        if m.step:
            step_prepare(m, None)  # a step message on its way finds the sequence moved on
        m.save()
        locked.state = HostState.ENABLED
        locked.save(update_fields=["state"])
    # Each abort in its own transaction, after the host is back (migration rows lock before host rows).
    statuses = list(MIGRATION_ACTIVE) if abort_running else [MigrationStatus.ACCEPTED, MigrationStatus.QUEUED]
    aborted, finishing = [], []
    for mig in Migration.objects.filter(source_host=host, created_at__gte=m.created_at,
                                        status__in=MIGRATION_ACTIVE).order_by("pk"):
        if mig.status not in statuses:
            finishing.append(mig.public_id)
            continue
        try:
            migration_abort(actor=actor, migration=mig)
            aborted.append(mig.public_id)
        except InvalidState:  # it finished meanwhile
            finishing.append(mig.public_id)
    left = Instance.objects.filter(host=host, state__in=LIVE_STATES).count()
    event_record(action="host.maintenance_cancelled", host=host, actor=actor, level="warning",
                 message=f"Maintenance of {host.name} cancelled; the host is enabled again with {left} guest(s). "
                         f"{len(aborted)} queued move(s) dropped"
                         + (f", {len(finishing)} running move(s) left to finish" if finishing else "")
                         + (f". Why: {note}" if note else "."),
                 data={"maintenance": m.public_id, "aborted": aborted, "finishing": finishing})
    return m


def maintenance_exit(*, host: Host, actor: str, note: str = "") -> Maintenance:
    """Return an emptied host to service."""
    with transaction.atomic():
        m = Maintenance.objects.select_for_update().filter(host=host, status__in=MAINTENANCE_ACTIVE).first()
        if m is None or m.status != MaintenanceStatus.IN_MAINTENANCE:
            state = "still entering maintenance (cancel it instead)" if m else f"{host.get_state_display()}"
            raise InvalidState(f"{host.name} is {state}: only a host in maintenance can exit it.")
        locked = _lock_host(host)
        m.status, m.finished_at = MaintenanceStatus.EXITED, timezone.now()
        m.hypervisor_after = locked.hypervisor_version
        m.save()
        locked.state = HostState.ENABLED
        locked.save(update_fields=["state"])
        event_record(action="host.maintenance_exited", host=locked, actor=actor,
                     message=f"{host.name} left maintenance and takes placements again (hypervisor "
                             f"{locked.hypervisor_version})" + (f". Why: {note}" if note else ""),
                     data={"maintenance": m.public_id, "note": note})
    return m


def host_hypervisor_upgrade(*, host: Host, version: str, actor: str) -> Host:
    """Install another hypervisor version: only in maintenance (no guest runs there), never older."""
    version = str(version or "").strip()
    if not VERSION_RE.match(version):
        raise InvalidRequest({"version": "Give a version such as 7.0.4 (numbers separated by dots)."})
    with transaction.atomic():
        locked = _lock_host(host)
        if locked.state != HostState.MAINTENANCE:
            raise InvalidState(f"{locked.name} is {locked.get_state_display()}: upgrade its hypervisor only in "
                               "maintenance (enter maintenance first; it moves the guests away).")
        old = locked.hypervisor_version
        if version_key(version) <= version_key(old):
            raise InvalidRequest({"version": f"{locked.name} runs {old}: give a newer version (a host never goes "
                                             "back, guests could not live-migrate off it)."})
        locked.hypervisor_version = version
        locked.save(update_fields=["hypervisor_version"])
        Maintenance.objects.filter(host=locked, status=MaintenanceStatus.IN_MAINTENANCE).update(
            hypervisor_after=version)
        event_record(action="host.hypervisor_upgraded", host=locked, actor=actor,
                     message=f"Hypervisor of {locked.name} upgraded from {old} to {version}",
                     data={"from": old, "to": version})
    return locked


# --------------------------------------------------------------------------- stopped guests
def instance_rehome(*, instance: Instance, actor: str) -> Instance:
    """Move a stopped guest to another host without a memory copy: claim there, release here, new
    address on the destination's network (the same filters pick the host as for a launch)."""
    with transaction.atomic():
        inst = (Instance.objects.select_for_update(of=("self",))
                .select_related("host", "appliance", "instance_type", "placement_group", "owner")
                .filter(pk=instance.pk).first())
        if inst is None:
            raise NotFound(f"Instance {instance.public_id} does not exist.")
        if inst.state != "stopped" or inst.task or inst.step:
            raise InvalidState(f"Instance {inst.public_id} is {inst.get_task_display() or inst.state}: only a "
                               "stopped, idle instance is re-homed.")
        source = inst.host
        req = guest_request(inst, source)
        claim = claim_first(instance=inst, host_ids=[c.host_id for c in candidates(req)], kind=ClaimKind.MIGRATION)
        if claim is None:
            why = explain(req)
            raise InsufficientCapacity(f"No host can take stopped {inst.public_id}: {why['message']}", explanation=why)
        dest = Host.objects.select_for_update().get(pk=claim.host_id)
        ip = address_allocate(dest)
        if ip is None:
            raise InvalidState(f"{dest.name} has no free private address left")  # rolls the claim back
        claim_release(instance=inst, kind=ClaimKind.INSTANCE)
        Claim.objects.filter(instance=inst, kind=ClaimKind.MIGRATION).update(kind=ClaimKind.INSTANCE)
        old_ip = inst.private_ip
        inst.host, inst.private_ip, inst.hostname = dest, ip, hostname_for(inst, ip)
        inst.boot_plan = {**inst.boot_plan, "applied": driver.port_move(inst.boot_plan.get("applied") or {}, dest, ip)}
        inst.save(update_fields=["host", "private_ip", "hostname", "boot_plan", "updated_at"])
        event_record(action="instance.rehomed", instance=inst, actor=actor,
                     message=f"Stopped instance re-homed from {source.name} to {dest.name} at {ip} (was {old_ip}); "
                             f"no memory to copy; capacity released on {source.name}",
                     data={"source": source.name, "destination": dest.name})
    return inst
