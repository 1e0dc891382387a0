"""Reads, shared by every surface. Tenancy lives here: a user's selectors only see their own rows."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from django.db.models import Count, F, FloatField, Model, Q, QuerySet
from django.db.models.functions import Cast, NullIf

from . import driver
from .choices import LIVE_STATES, MAINTENANCE_ACTIVE, MIGRATION_ACTIVE, MIGRATION_MOVING, InstanceState
from .exceptions import NotFound
from .models import (
    Appliance,
    Claim,
    Event,
    Host,
    Instance,
    InstanceType,
    KeyPair,
    Maintenance,
    Migration,
    SecurityGroup,
)
from .models.access import OwnedResource

M = TypeVar("M", bound=Model)
R = TypeVar("R", bound=OwnedResource)


def ref_lookup(qs: QuerySet[M], ref: str, *, alt: str = "name") -> M | None:
    """The row of `qs` whose public id, or else whose `alt` (a name, a slug), is `ref`; None if none.

    The one "public id or name" lookup: owned resources, appliances and every surface use it, so
    `key-…` and `laptop` find the same key pair everywhere. One query; the public id wins a tie.
    """
    ref = str(ref or "")
    if not ref:
        return None
    rows = list(qs.filter(Q(public_id=ref) | Q(**{alt: ref}))[:2])
    return next((row for row in rows if row.public_id == ref), rows[0] if rows else None)


def owned_get(model: type[R], *, user, ref: str) -> R:
    """The caller's own key pair, security group or placement group by public id or name.

    Another user's is NotFound, the same as one that does not exist (never a 403).
    """
    obj = ref_lookup(model.objects.filter(owner=user), ref)
    if obj is None:
        raise NotFound(f"{model._meta.verbose_name.capitalize()} '{ref}' does not exist.")
    return obj


def appliance_list() -> QuerySet[Appliance]:
    return Appliance.objects.filter(is_public=True)


def appliance_get(*, ref: str) -> Appliance:
    """A public appliance by ami- id or slug."""
    app = ref_lookup(appliance_list(), ref, alt="slug")
    if app is None:
        raise NotFound(f"Appliance '{ref}' does not exist.")
    return app


def instance_type_list() -> QuerySet[InstanceType]:
    return InstanceType.objects.all()


def instance_list(*, user) -> QuerySet[Instance]:
    return Instance.objects.filter(owner=user).select_related("appliance", "instance_type", "host")


def instance_get(*, user, public_id: str) -> Instance:
    """The caller's own instance or NotFound (never 403: don't reveal that it exists)."""
    inst = instance_list(user=user).filter(public_id=public_id).first()
    if inst is None:
        raise NotFound(f"Instance '{public_id}' does not exist.")
    return inst


def instance_events(*, instance: Instance) -> QuerySet[Event]:
    return instance.events.all()


def event_list(*, user) -> QuerySet[Event]:
    return Event.objects.filter(owner=user).select_related("instance")


def keypair_list(*, user) -> QuerySet[KeyPair]:
    return KeyPair.objects.filter(owner=user)


def security_group_list(*, user) -> QuerySet[SecurityGroup]:
    return SecurityGroup.objects.filter(owner=user).prefetch_related("rules")


def availability_zone_list() -> list[str]:
    """The fleet's availability zones, sorted."""
    return sorted(set(Host.objects.values_list("availability_zone", flat=True)))


# --------------------------------------------------------------------------- staff (every tenant)
def _ratio(resource: str):
    return Cast(F(f"{resource}_used"), FloatField()) / NullIf(Cast(F(f"{resource}_limit"), FloatField()), 0.0)


def host_list() -> QuerySet[Host]:
    """The fleet, each host with its count of live guests (`guests`) and its allocated shares
    (`vcpus_ratio`, `memory_ratio`, `disk_ratio`, 0..1, null for a zero limit) to sort on."""
    return Host.objects.annotate(
        guests=Count("instances", filter=Q(instances__state__in=LIVE_STATES)),
        vcpus_ratio=_ratio("vcpus"), memory_ratio=_ratio("memory_mib"), disk_ratio=_ratio("disk_gib"),
    ).order_by("name")


def host_get(*, name: str) -> Host:
    host = host_list().filter(name=name).first()
    if host is None:
        raise NotFound(f"Host '{name}' does not exist. GET /api/v1/staff/hosts/ lists the fleet.")
    return host


def host_guests(*, host: Host) -> QuerySet[Instance]:
    """The live instances on a host (every tenant's), largest memory first."""
    return (Instance.objects.filter(host=host, state__in=LIVE_STATES)
            .select_related("owner", "appliance", "instance_type", "host")
            .order_by("-instance_type__memory_mib", "public_id"))


def instance_list_all() -> QuerySet[Instance]:
    """Every tenant's instances (staff)."""
    return Instance.objects.select_related("owner", "appliance", "instance_type", "host", "reservation",
                                           "placement_group").prefetch_related("security_groups")


def instance_get_any(*, public_id: str) -> Instance:
    inst = instance_list_all().filter(public_id=public_id).first()
    if inst is None:
        raise NotFound(f"Instance '{public_id}' does not exist.")
    return inst


# --------------------------------------------------------------------------- staff: the fleet at a glance
HOST_STATE_GROUPS = ("enabled", "disabled", "entering_maintenance", "maintenance", "down")


@dataclass
class Allocation:
    """Allocated against the schedulable limit, per resource, for one host or a zone."""

    vcpus_used: int = 0
    vcpus_limit: int = 0
    memory_mib_used: int = 0
    memory_mib_limit: int = 0
    disk_gib_used: int = 0
    disk_gib_limit: int = 0
    hosts: int = 0

    def add(self, host: Host) -> None:
        self.hosts += 1
        for name in ("vcpus", "memory_mib", "disk_gib"):
            setattr(self, f"{name}_used", getattr(self, f"{name}_used") + getattr(host, f"{name}_used"))
            setattr(self, f"{name}_limit", getattr(self, f"{name}_limit") + getattr(host, f"{name}_limit"))


@dataclass
class FleetOverview:
    hosts: list[Host]
    zones: dict[str, Allocation]
    total: Allocation
    hosts_by_state: dict[str, int]
    instances_by_state: dict[str, int]
    busy_instances: int
    imbalance: float
    events: list[Event] = field(default_factory=list)
    migrations: list[Migration] = field(default_factory=list)  # the oldest active ones
    migrations_active: int = 0

    @property
    def disabled_hosts(self) -> list[Host]:
        """Disabled hosts, each with `disabled_reason` (from its latest `host.disable` event)."""
        return [h for h in self.hosts if h.state == "disabled"]

    @property
    def in_flight(self) -> bool:
        """Something is moving (a page showing this refreshes quickly while so)."""
        return bool(self.busy_instances or self.migrations)


def disabled_reasons() -> dict[int, str]:
    """host id -> why it was disabled (the reason given with its latest `host.disable`): one query."""
    out: dict[int, str] = {}
    for host_id, data in (Event.objects.filter(action="host.disable", host__state="disabled")
                          .order_by("host_id", "-created_at", "-id").values_list("host_id", "data")):
        out.setdefault(host_id, (data or {}).get("reason", ""))
    return out


def host_disabled_reason(*, host: Host) -> str:
    """Why this host is disabled ('' when it is not, or no reason was given)."""
    if host.state != "disabled":
        return ""
    data = (Event.objects.filter(action="host.disable", host=host).order_by("-created_at", "-id")
            .values_list("data", flat=True).first())
    return (data or {}).get("reason", "")


def host_group(host: Host) -> str:
    """The overview's state group: `down` (its agent does not answer) wins over the configured state."""
    return host.state if host.is_up else "down"


def fleet_overview(*, events: int = 12, migrations: int = 20) -> FleetOverview:
    """Every host with its allocation, zone and fleet sums, hosts per state (disabled ones with their
    reason), instances per state and the latest events: a fixed number of queries whatever the fleet's size."""
    hosts = list(host_list())
    reasons = disabled_reasons()
    for h in hosts:
        h.disabled_reason = reasons.get(h.pk, "") if h.state == "disabled" else ""
    zones: dict[str, Allocation] = {}
    total = Allocation()
    by_state = dict.fromkeys(HOST_STATE_GROUPS, 0)
    for h in hosts:
        zones.setdefault(h.availability_zone, Allocation()).add(h)
        total.add(h)
        by_state[host_group(h)] = by_state.get(host_group(h), 0) + 1
    counts = dict(Instance.objects.values_list("state").annotate(n=Count("id")).order_by())
    busy = Instance.objects.filter(state__in=LIVE_STATES).exclude(task="").count()
    active = migration_list(status=list(MIGRATION_ACTIVE))
    loads = {h.name: (h.memory_mib_used, h.memory_mib_limit, h.vcpus_used, h.vcpus_limit)
             for h in hosts if h.state == "enabled" and h.is_up}
    return FleetOverview(
        hosts=hosts, zones=dict(sorted(zones.items())), total=total, hosts_by_state=by_state,
        instances_by_state={s: counts.get(s, 0) for s in InstanceState.values}, busy_instances=busy,
        imbalance=round(driver.fleet_imbalance(loads), 4),
        events=list(Event.objects.select_related("instance", "host").order_by("-created_at", "-id")[:events]),
        migrations=list(active.order_by("created_at", "id")[:migrations]), migrations_active=active.count())


def host_events(*, host: Host, limit: int = 30) -> list[Event]:
    """A host's latest events: its own and those of the instances placed on it."""
    return list(Event.objects.filter(host=host).select_related("instance").order_by("-created_at", "-id")[:limit])


def host_claims(*, host: Host) -> QuerySet[Claim]:
    """The claims that make up a host's used figures (instance claims and incoming migrations)."""
    return (Claim.objects.filter(host=host).select_related("instance", "instance__owner")
            .order_by("kind", "-memory_mib", "instance__public_id"))


def migration_list(*, instance: Instance | None = None, status: str | list[str] | None = None,
                   host=None) -> QuerySet[Migration]:
    """Every tenant's live migrations (staff surfaces only), newest first; `host` matches either end."""
    qs = Migration.objects.select_related("instance", "source_host", "dest_host")
    if instance is not None:
        qs = qs.filter(instance=instance)
    if status:
        qs = qs.filter(status__in=[status] if isinstance(status, str) else list(status))
    if host is not None:
        qs = qs.filter(Q(source_host=host) | Q(dest_host=host))
    return qs


def migration_get(*, public_id: str) -> Migration:
    """One migration with its rounds prefetched, or NotFound."""
    mig = migration_list().prefetch_related("rounds").filter(public_id=public_id).first()
    if mig is None:
        raise NotFound(f"Migration '{public_id}' does not exist.")
    return mig


# --------------------------------------------------------------------------- staff: maintenance
@dataclass
class HostMaintenance:
    """A host's maintenance as the console shows it: the row, what is left and why (read live while
    entering), and its moves against the host's migration slots."""

    host: Host
    maintenance: Maintenance | None
    remaining: list[dict] = field(default_factory=list)
    moves: list[Migration] = field(default_factory=list)
    slots: int = 0

    @property
    def entering(self) -> bool:
        return self.maintenance is not None and self.maintenance.status == "entering"

    @property
    def moving(self) -> int:
        return sum(1 for m in self.moves if m.status in MIGRATION_MOVING)

    @property
    def queued(self) -> int:
        return sum(1 for m in self.moves if m.status not in MIGRATION_MOVING)


def maintenance_status(*, host: Host) -> HostMaintenance:
    from .pipeline.maintenance_steps import maintenance_remaining
    from .services.migration_rounds import migration_slots

    m = Maintenance.objects.filter(host=host, status__in=MAINTENANCE_ACTIVE).first()
    out = HostMaintenance(host=host, maintenance=m, slots=migration_slots(host))
    if m is not None:
        out.remaining = maintenance_remaining(m)
        out.moves = list(migration_list(status=list(MIGRATION_ACTIVE)).filter(source_host=host)
                         .order_by("created_at", "id"))
    return out


def maintenance_list(*, limit: int = 30) -> list[Maintenance]:
    """Active maintenances first, then the latest that ended."""
    active = list(Maintenance.objects.filter(status__in=MAINTENANCE_ACTIVE).select_related("host")
                  .order_by("created_at"))
    ended = list(Maintenance.objects.exclude(status__in=MAINTENANCE_ACTIVE).select_related("host")
                 .order_by("-created_at")[:limit])
    return active + ended
