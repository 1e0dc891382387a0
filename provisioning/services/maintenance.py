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

from .. import driver
from ..choices import LIVE_STATES
from ..models import Host, Instance
from ..placement import PlacementRequest, candidates, explain
from ..placement.scheduler import CANDIDATE_LIMIT
from ..units import mib_label

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


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in "".join(c if c.isdigit() else " " for c in v).split()) or (0,)


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


def _destination(inst: Instance, source: Host, added: dict[int, list[int]], live: bool) -> tuple[Host | None, str]:
    """The best-ranked host the filters allow with room left after this plan's earlier guests, or why none."""
    req = guest_request(inst, source)
    options = candidates(req, limit=CANDIDATE_LIMIT + len(added))
    older = []
    for option in options:
        host = option.host
        if live and _version(host.hypervisor_version) < _version(source.hypervisor_version):
            older.append(host.name)
            continue  # a live migration never goes to an older hypervisor
        if _room(option.row, inst.instance_type, added.get(host.pk, [0, 0, 0, 0])):
            return host, ""
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
        dest, why = _destination(inst, host, added, live)
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
        timing = driver.evacuation_timing(
            host, moves, concurrency=out.concurrency,
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
