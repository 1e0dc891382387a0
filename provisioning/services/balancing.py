"""Workload balancing (vSphere DRS-like): the fleet's imbalance, recommendations, and applying them.

The imbalance is the standard deviation of the schedulable hosts' loads (a host's load is the larger
of its allocated memory and vCPU shares; `driver.fleet_imbalance`). At threshold level L (1..5) the
balancer recommends moves while the fleet's DRS priority (`driver.imbalance_priority`) is at most L:
level 1 only for a badly skewed fleet, level 5 for a slight gain. Each recommendation is one guest,
source -> destination, with a reason, a priority, the imbalance before and after, and its cost (the
memory a live migration copies). Destinations come only from the placement filters (the one judge:
`PlacementRequest(exclude_host_ids=[source])`, the guest's mode and zone pinned). A move is kept only
when its benefit beats its cost and the destination ends below the source's new load (no ping-pong);
a guest moved within the cooldown is left alone; a run makes at most `max_moves` moves.

The policy (mode and threshold level) is stored and set by staff (`balancing_policy_set`, logged as an
event); SKYPORT_BALANCING's `mode` and `threshold` are only its initial default.

Benefit and cost in one unit: the imbalance a move removes, times the balanced hosts' total
memory, is "GiB of imbalance"; a move must remove more of it than `cost_factor` x the GiB it copies.
The product is independent of the fleet's size (a move's effect on the deviation shrinks as 1/N, the
memory grows as N), so one setting serves 5 hosts and 5,000.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import driver
from ..choices import BALANCING_LEVELS, MIGRATION_ACTIVE, BalancingMode, NicKind
from ..exceptions import InvalidRequest, InvalidState, SkyportError
from ..models import BalancingPolicy, Host, Instance, Migration
from ..placement import PlacementRequest
from ..placement.scheduler import CANDIDATE_LIMIT, candidate_windows
from .events import event_record

# How many of the most loaded hosts, and how many guests on each, one pass of the search looks at.
SOURCES_PER_PASS = 3
GUESTS_PER_SOURCE = 12
EVEN = 1e-6  # an imbalance below this is an even fleet, whatever the threshold


def balancing_config(**overrides) -> dict:
    """SKYPORT_BALANCING with the caller's overrides (None means "the setting"). Its `mode` and `threshold`
    are only the policy's initial default: read `balancing_policy()` for the ones in force."""
    cfg = dict(settings.SKYPORT_BALANCING)
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    return cfg


# --------------------------------------------------------------------------- the policy
def balancing_policy() -> BalancingPolicy:
    """The policy in force: the stored row, or before staff first set one, SKYPORT_BALANCING's (unsaved)."""
    return BalancingPolicy.objects.filter(pk=BalancingPolicy.ONE).first() or _initial_policy()


def _initial_policy() -> BalancingPolicy:
    cfg = settings.SKYPORT_BALANCING
    return BalancingPolicy(mode=cfg["mode"], threshold=int(cfg["threshold"]))


@dataclass
class PolicyChange:
    policy: BalancingPolicy
    changes: list[str]  # "mode manual → automatic", "threshold level 3 → 4"; empty when nothing changed
    message: str


def _level(value) -> int | None:
    """A threshold level from an int or its text; None when it is not a level 1..5."""
    if isinstance(value, bool):
        return None
    try:
        level = int(str(value).strip())
    except ValueError:
        return None
    return level if level in BALANCING_LEVELS else None


def balancing_policy_set(*, actor: str, mode: str | None = None, threshold: int | str | None = None) -> PolicyChange:
    """Set the balancer's mode and/or threshold level; an event says who changed what from what to what.

    The beat task and the recommendations read the policy at their next run. Setting what is already in
    force changes nothing and writes no event.
    """
    if mode is None and threshold is None:
        raise InvalidRequest("Say what to change: a mode (manual or automatic), a threshold level (1-5), or both.")
    errors: dict[str, str] = {}
    if mode is not None and mode not in BalancingMode.values:
        errors["mode"] = (f"'{mode}' is not a balancing mode: choose manual (the balancer recommends, staff apply) "
                          f"or automatic (it applies its recommendations by itself).")
    level = _level(threshold) if threshold is not None else None
    if threshold is not None and level is None:
        errors["threshold"] = (f"The threshold level is a whole number from 1 (move only when the fleet is badly "
                               f"skewed) to 5 (move for any gain), not '{threshold}'.")
    if errors:
        raise InvalidRequest(errors)
    with transaction.atomic():
        BalancingPolicy.objects.bulk_create([_initial_policy()], ignore_conflicts=True)  # the row, once, race-free
        policy = BalancingPolicy.objects.select_for_update().get(pk=BalancingPolicy.ONE)
        before = {"mode": policy.mode, "threshold": policy.threshold}
        after = {"mode": mode or policy.mode, "threshold": level or policy.threshold}
        changes = ([f"mode {before['mode']} → {after['mode']}"] if after["mode"] != before["mode"] else []) + (
            [f"threshold level {before['threshold']} → {after['threshold']}"]
            if after["threshold"] != before["threshold"] else [])
        if not changes:
            return PolicyChange(policy, [], f"Nothing changed: the balancer is already {policy.mode} at threshold "
                                            f"level {policy.threshold}.")
        policy.mode, policy.threshold = after["mode"], after["threshold"]
        policy.updated_by, policy.updated_at = actor, timezone.now()
        policy.save()
        message = f"{actor} changed the balancing policy: {', '.join(changes)}."
        event_record(action="balancing.policy_changed", actor=actor, message=message,
                     data={"before": before, "after": after})
    return PolicyChange(policy, changes, message)


@dataclass
class Recommendation:
    instance: str
    instance_name: str
    owner: str
    source: str
    destination: str
    priority: int
    reason: str
    memory_to_copy_mib: int
    vcpus: int
    imbalance_before: float
    imbalance_after: float
    source_load_before: float
    source_load_after: float
    destination_load_before: float
    destination_load_after: float
    benefit_gib: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BalancingPlan:
    hosts: int
    threshold: int
    mode: str
    imbalance: float
    priority: int
    target_imbalance: float
    imbalance_after: float
    recommendations: list[Recommendation] = field(default_factory=list)
    message: str = ""
    loads: dict[str, float] = field(default_factory=dict)
    policy: dict = field(default_factory=dict)  # the stored policy: mode, threshold, updated_by, updated_at

    def to_dict(self) -> dict:
        return {**{k: v for k, v in asdict(self).items() if k != "recommendations"},
                "recommendations": [r.to_dict() for r in self.recommendations]}


def _figures(h: Host) -> driver.LoadFigures:
    return (h.memory_mib_used, h.memory_mib_limit, h.vcpus_used, h.vcpus_limit)


def target_imbalance(threshold: int, n_hosts: int) -> float:
    """The largest imbalance the threshold tolerates (priority above it), to show next to the figure."""
    lo, hi = 0.0, 1.0
    for _ in range(40):  # priority falls as the imbalance grows: bisect on the boundary
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if driver.imbalance_priority(mid, n_hosts) > threshold else (lo, mid)
    return round(lo, 4)


def _sources(hosts: dict[str, Host], loads: dict[str, driver.LoadFigures], moves: int) -> list[Host]:
    """The hosts a run may relieve: the most loaded, as many as `moves` passes can reach. A pass relieves
    one of the SOURCES_PER_PASS most loaded hosts that the run has not filled, and each move touches two
    hosts, so those are always among the first SOURCES_PER_PASS + 2 x (moves - 1)."""
    ranked = sorted(hosts.values(), key=lambda h: (-driver.host_load(loads[h.name]), h.name))
    return ranked[:SOURCES_PER_PASS + 2 * max(0, moves - 1)]


def _movable(sources: list[Host], cooldown_s: float, keep: int) -> dict[int, list[Instance]]:
    """Per source host, its running idle guests that may move now (none migrated within the cooldown, by any
    origin, in any outcome; an SR-IOV guest never), largest first, at most `keep` each. One query."""
    since = timezone.now() - timedelta(seconds=cooldown_s)
    cooling = Migration.objects.filter(created_at__gte=since).values("instance_id")
    qs = (Instance.objects.filter(host__in=[h.pk for h in sources], state="running", task="", step="")
          .exclude(pk__in=cooling).exclude(instance_type__nic=NicKind.SRIOV)
          .select_related("appliance", "instance_type", "placement_group", "owner")
          .order_by("host_id", "-instance_type__memory_mib", "-instance_type__vcpus", "public_id"))
    out: dict[int, list[Instance]] = {}
    for inst in qs:
        guests = out.setdefault(inst.host_id, [])
        if len(guests) < keep:
            guests.append(inst)
    return out


def _destinations(guests: dict[int, list[Instance]], moves: int) -> dict[int, list]:
    """Per guest, the hosts the placement filters let it go to (its zone and mode, its source excluded): the
    window a migration would rank, widened by what this run may add. One statement for every guest."""
    shapes: dict[tuple, PlacementRequest] = {}
    shape_of: dict[int, tuple] = {}
    for inst in (i for on_host in guests.values() for i in on_host):
        req = PlacementRequest(appliance=inst.appliance, instance_type=inst.instance_type, virt_mode=inst.virt_mode,
                               availability_zone=inst.availability_zone, placement_group=inst.placement_group,
                               exclude_host_ids=[inst.host_id])
        shape_of[inst.pk] = key = (req.guest_key(), inst.virt_mode, inst.availability_zone,
                                   inst.placement_group_id, inst.host_id)
        shapes.setdefault(key, req)
    windows = dict(zip(shapes, candidate_windows(list(shapes.values()), limit=CANDIDATE_LIMIT + moves),
                       strict=True))
    return {pk: windows[key] for pk, key in shape_of.items()}


def _reason(source: str, dest: str, effect: dict, figures: driver.LoadFigures) -> str:
    mem_share, cpu_share = figures[0] / figures[1], figures[2] / figures[3]
    resource = "memory" if mem_share >= cpu_share else "vCPU"
    return (f"Balance {resource} load: {source} is {effect['source_load_before']:.0%} loaded, "
            f"{dest} {effect['destination_load_before']:.0%}; after the move {effect['source_load_after']:.0%} "
            f"and {effect['destination_load_after']:.0%}")


def balancing_recommend(*, threshold: int | None = None, max_moves: int | None = None) -> BalancingPlan:
    """The moves that would even out the fleet now at the policy's threshold level, or at `threshold` (a
    preview); claims nothing, moves nothing."""
    policy = balancing_policy()
    cfg = balancing_config(max_moves=max_moves)
    level, limit = int(threshold or policy.threshold), int(cfg["max_moves"])
    hosts = {h.name: h for h in Host.objects.filter(state="enabled", is_up=True).order_by("name")
             if h.memory_mib_limit > 0 and h.vcpus_limit > 0}
    loads = {name: _figures(h) for name, h in hosts.items()}
    before = driver.fleet_imbalance(loads)
    plan = BalancingPlan(hosts=len(hosts), threshold=level, mode=policy.mode, imbalance=round(before, 4),
                         priority=driver.imbalance_priority(before, len(hosts)),
                         target_imbalance=target_imbalance(level, len(hosts)), imbalance_after=round(before, 4),
                         loads={n: round(driver.host_load(f), 4) for n, f in loads.items()},
                         policy=policy.as_dict())
    total_gib = sum(f[1] for f in loads.values()) / 1024
    # The whole search reads the fleet in a fixed number of queries, whatever its size or loads.
    sources = _sources(hosts, loads, limit)
    guests = _movable(sources, cfg["cooldown_s"], keep=GUESTS_PER_SOURCE + limit)  # a pass weighs 12 not moved
    options = _destinations(guests, limit)
    moved: set[int] = set()
    added: dict[int, list[int]] = {}  # destination host id -> [vcpus, memory, disk, instances] this plan adds
    while len(plan.recommendations) < limit:
        current = driver.fleet_imbalance(loads)
        priority = driver.imbalance_priority(current, len(loads))
        if priority > level or current < EVEN:
            break
        best = _best_move(hosts, loads, [h for h in sources if h.pk not in added], guests, options, moved, added,
                          total_gib, float(cfg["cost_factor"]))
        if best is None:
            break
        inst, source, dest, effect, benefit = best
        it = inst.instance_type
        plan.recommendations.append(Recommendation(
            instance=inst.public_id, instance_name=inst.name, owner=inst.owner.username, source=source.name,
            destination=dest.name, priority=priority, reason=_reason(source.name, dest.name, effect,
                                                                    loads[source.name]),
            memory_to_copy_mib=it.memory_mib, vcpus=it.vcpus,
            imbalance_before=round(effect["imbalance_before"], 4), imbalance_after=round(effect["imbalance_after"], 4),
            source_load_before=round(effect["source_load_before"], 4),
            source_load_after=round(effect["source_load_after"], 4),
            destination_load_before=round(effect["destination_load_before"], 4),
            destination_load_after=round(effect["destination_load_after"], 4), benefit_gib=round(benefit, 2)))
        m, ml, v, vl = loads[source.name]
        loads[source.name] = (m - it.memory_mib, ml, v - it.vcpus, vl)
        m, ml, v, vl = loads[dest.name]
        loads[dest.name] = (m + it.memory_mib, ml, v + it.vcpus, vl)
        extra = added.setdefault(dest.pk, [0, 0, 0, 0])
        for i, amount in enumerate((it.vcpus, it.memory_mib, it.disk_gib, 1)):
            extra[i] += amount
        moved.add(inst.pk)
    plan.imbalance_after = round(driver.fleet_imbalance(loads), 4)
    plan.message = _summary(plan)
    return plan


def _fits(row, it, extra: list[int]) -> bool:
    """Room on a candidate row after what this plan already sends there."""
    v, m, d, n = extra
    return (row.vcpus_limit - row.vcpus_used - v >= it.vcpus and row.memory_mib_limit - row.memory_mib_used - m
            >= it.memory_mib and row.disk_gib_limit - row.disk_gib_used - d >= it.disk_gib
            and row.max_instances - row.instances_used - n >= 1)


def _best_move(hosts, loads, sources, guests, options, moved, added, total_gib, cost_factor):
    """The move with the largest net benefit from the few most loaded sources, or None (no query)."""
    mean = sum(driver.host_load(f) for f in loads.values()) / max(1, len(loads))
    effect_of = driver.move_effects(loads)  # the fleet read once per pass, each candidate move then O(1)
    ranked = sorted(sources, key=lambda h: (-driver.host_load(loads[h.name]), h.name))[:SOURCES_PER_PASS]
    best, best_score = None, 0.0
    for source in ranked:
        if driver.host_load(loads[source.name]) <= mean:
            break
        for inst in [g for g in guests.get(source.pk, ()) if g.pk not in moved][:GUESTS_PER_SOURCE]:
            it = inst.instance_type
            for row in options[inst.pk]:
                if row.name not in loads or not _fits(row, it, added.get(row.id, [0, 0, 0, 0])):
                    continue
                effect = effect_of(source=source.name, destination=row.name, memory_mib=it.memory_mib,
                                   vcpus=it.vcpus)
                if effect["destination_load_after"] >= effect["source_load_after"]:
                    continue  # the destination would end at or above the host it relieved
                benefit = effect["improvement"] * total_gib
                score = benefit - cost_factor * it.memory_mib / 1024
                if score > best_score:
                    best, best_score = (inst, source, hosts[row.name], effect, benefit), score
    return best


def _summary(plan: BalancingPlan) -> str:
    head = (f"Imbalance {plan.imbalance:.3f} over {plan.hosts} hosts (priority {plan.priority}); threshold level "
            f"{plan.threshold} tolerates up to {plan.target_imbalance:.3f}.")
    if plan.priority > plan.threshold or plan.imbalance < EVEN:
        return head + " Balanced enough: nothing to recommend."
    if not plan.recommendations:
        return head + (" No move helps enough: every candidate either costs more than it gains, would leave its "
                       "destination above its source, or its guest is cooling down or busy.")
    return head + (f" {len(plan.recommendations)} move(s) would bring it to {plan.imbalance_after:.3f}.")


# --------------------------------------------------------------------------- applying
BALANCING_NOTE = "balancing"


@dataclass
class BalancingRun:
    plan: BalancingPlan
    started: list[dict] = field(default_factory=list)  # {instance, migration, source, destination}
    refused: list[dict] = field(default_factory=list)  # {instance, reason}
    message: str = ""

    def to_dict(self) -> dict:
        return {"plan": self.plan.to_dict(), "started": self.started, "refused": self.refused,
                "message": self.message}


def balancing_apply(*, actor: str, instance: str | None = None, threshold: int | None = None,
                    max_moves: int | None = None) -> BalancingRun:
    """Apply the current recommendations (all, or the one for `instance`) as live migrations.

    The plan is computed afresh, so a move that no longer helps (the fleet changed, the guest moved)
    is refused with the reason instead of being applied from a stale list. Each migration starts in
    its own transaction; one that cannot start (a race for the room) is reported, the others go on.
    """
    from .migrations import migration_start  # the migration service imports placement, as we do

    plan = balancing_recommend(threshold=threshold, max_moves=max_moves)
    recs = plan.recommendations
    if instance is not None:
        recs = [r for r in recs if r.instance == instance]
        if not recs:
            raise InvalidState(f"Moving {instance} is not recommended now. {plan.message}")
    run = BalancingRun(plan=plan)
    for rec in recs:
        inst = Instance.objects.filter(public_id=rec.instance).first()
        try:
            mig = migration_start(actor=actor, instance=inst, destination=rec.destination,
                                  note=f"{BALANCING_NOTE}: {rec.reason}"[:255])
        except SkyportError as exc:
            run.refused.append({"instance": rec.instance, "reason": exc.message})
            continue
        run.started.append({"instance": rec.instance, "migration": mig.public_id, "source": rec.source,
                            "destination": rec.destination, "priority": rec.priority})
    run.message = (f"{len(run.started)} balancing migration(s) started"
                   + (f", {len(run.refused)} refused" if run.refused else "")
                   + f"; expected imbalance {plan.imbalance:.3f} -> {plan.imbalance_after:.3f}.")
    if recs:
        event_record(action="balancing.applied", actor=actor, level="info" if run.started else "warning",
                     message=run.message, data={"started": run.started, "refused": run.refused,
                                                "imbalance_before": plan.imbalance,
                                                "imbalance_expected": plan.imbalance_after})
    return run


def balancing_in_flight() -> int:
    """Balancing migrations not finished yet (automatic mode waits for them before the next run)."""
    return Migration.objects.filter(status__in=MIGRATION_ACTIVE, request_note__startswith=BALANCING_NOTE).count()


def balancing_tick(*, actor: str = "balancer") -> dict:
    """Celery beat, every interval, by the stored policy: automatic applies the recommendations (one run at
    a time); manual only recommends (the plan is returned, nothing moves)."""
    if balancing_policy().mode != BalancingMode.AUTOMATIC:
        plan = balancing_recommend()
        return {"mode": plan.mode, "skipped": f"manual mode: {len(plan.recommendations)} recommendation(s) wait "
                                              f"for staff", "plan": plan.to_dict()}
    busy = balancing_in_flight()
    if busy:
        return {"mode": "automatic", "skipped": f"{busy} balancing migration(s) of the last run still moving"}
    return {"mode": "automatic", **balancing_apply(actor=actor).to_dict()}
