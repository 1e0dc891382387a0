"""Host filters: each a small named class in the FILTERS registry, applied in order (Nova style).

A filter says, as database conditions, which hosts pass (`condition`) and why the others do not
(`refusals`, each a condition plus words). The scheduler ANDs every condition into one indexed
query for candidates, and turns the refusals into one aggregate query for the explanation, where
each refused host is counted once, by the first filter (in registry order) that refuses it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, Q

from .. import driver
from ..choices import LIVE_STATES
from ..models import Host, Instance
from ..units import mib_label
from .request import PlacementRequest

# Free capacity as expressions. The scheduler aliases them onto every host queryset under these
# names, so filters can say `free_memory__gte=...`: the same expression the partial indexes
# `host_free_mem_idx` / `host_az_free_mem_idx` are built on, so PostgreSQL and SQLite can walk the
# index in free-memory order instead of scanning the fleet.
FREE = {
    "free_vcpus": F("vcpus_limit") - F("vcpus_used"),
    "free_memory": F("memory_mib_limit") - F("memory_mib_used"),
    "free_disk": F("disk_gib_limit") - F("disk_gib_used"),
    "free_slots": F("max_instances") - F("instances_used"),
}
SCHEDULABLE = Q(state="enabled", is_up=True)

FILTERS: list[type[HostFilter]] = []


def register(cls: type[HostFilter]) -> type[HostFilter]:
    FILTERS.append(cls)
    return cls


@dataclass(frozen=True)
class Refusal:
    """Hosts one filter refuses for one reason, and how to say it ("9 lack memory").

    `largest` is an aggregate expression (e.g. free memory) whose maximum over the refused hosts
    is shown through `largest_fmt` ("largest free 24 GiB").
    """

    key: str
    condition: Q
    singular: str
    plural: str
    largest: object | None = None
    largest_fmt: Callable[[int], str] | None = None

    def words(self, n: int, largest: int | None = None) -> str:
        text = self.singular if n == 1 else self.plural
        if self.largest_fmt is not None and largest is not None:
            text += f" (largest free {self.largest_fmt(largest)})"
        return text


class HostFilter:
    """Base: `condition` (None when the filter does not apply to this request) and `refusals`."""

    name = "base"
    description = ""
    # Scope filters define the denominator of an explanation ("9 of 16 in sky-1a"): hosts they
    # remove are not mentioned at all.
    scope = False

    def condition(self, req: PlacementRequest) -> Q | None:  # pragma: no cover - interface
        raise NotImplementedError

    def refusals(self, req: PlacementRequest) -> list[Refusal]:
        cond = self.condition(req)
        if cond is None:
            return []
        return [Refusal(self.name, ~cond, f"is refused by {self.name}", f"are refused by {self.name}")]

    def apply(self, qs, req: PlacementRequest):
        cond = self.condition(req)
        return qs if cond is None else qs.filter(cond)


@register
class HostStateFilter(HostFilter):
    name = "host_state"
    description = "enabled, not in maintenance, and up (its agent answers)"

    def condition(self, req):
        return SCHEDULABLE

    def refusals(self, req):
        return [
            Refusal("maintenance", Q(state="maintenance"), "is in maintenance", "are in maintenance"),
            Refusal("entering_maintenance", Q(state="entering_maintenance"), "is entering maintenance",
                    "are entering maintenance"),
            Refusal("disabled", Q(state="disabled"), "is disabled", "are disabled"),
            Refusal("down", Q(is_up=False), "is down", "are down"),
        ]


@register
class AvailabilityZoneFilter(HostFilter):
    name = "availability_zone"
    description = "in the requested availability zone (when one is given)"
    scope = True

    def condition(self, req):
        return Q(availability_zone=req.availability_zone) if req.availability_zone else None

    def refusals(self, req):
        cond = self.condition(req)
        if cond is None:
            return []
        return [Refusal("other_zone", ~cond, f"is outside {req.availability_zone}",
                        f"are outside {req.availability_zone}")]


@register
class ArchitectureFilter(HostFilter):
    name = "architecture"
    description = "a 64-bit CPU (lm) for x86_64 appliances; any x86 CPU runs i386 ones"

    def condition(self, req):
        return Q(is_64bit=True) if req.appliance.architecture == "x86_64" else None

    def refusals(self, req):
        if self.condition(req) is None:
            return []
        return [Refusal("not_64bit", Q(is_64bit=False), "lacks a 64-bit CPU (lm) for an x86_64 appliance",
                        "lack a 64-bit CPU (lm) for an x86_64 appliance")]


# The host properties the simulator's compatibility matrix reads: (64-bit, VT-x/AMD-V).
CPU_CLASSES = ((True, True), (True, False), (False, True), (False, False))


# The simulator's verdict per (guest, allowed modes) -> {CPU class: runnable modes}; pure, so shared.
_CLASS_MODES: dict[tuple, dict[tuple[bool, bool], list[str]]] = {}


def _class_q(is_64bit: bool, hw_virt: bool) -> Q:
    return Q(is_64bit=is_64bit, has_hw_virt=hw_virt)


def _classes_q(classes: list[tuple[bool, bool]]) -> Q:
    """The smallest condition selecting hosts of these CPU classes (simple for the planner)."""
    got = set(classes)
    if got == set(CPU_CLASSES):
        return Q()
    for is_64bit in (True, False):
        if got == {(is_64bit, True), (is_64bit, False)}:
            return Q(is_64bit=is_64bit)
    for hw_virt in (True, False):
        if got == {(True, hw_virt), (False, hw_virt)}:
            return Q(has_hw_virt=hw_virt)
    cond = Q(pk__in=[])
    for c in classes:
        cond |= _class_q(*c)
    return cond


def _mode_words(modes: list[str]) -> str:
    return " or ".join(m.replace("_", "-") for m in modes)


@register
class VirtModeFilter(HostFilter):
    """Host CPU features x appliance x mode, decided by the simulator's matrix (through the driver).

    The matrix depends on the host only through its CPU class (64-bit? VT-x/AMD-V?), so it is
    evaluated once per class for the request, and the answer becomes a database condition:
    some allowed mode that the host's hypervisor offers and its CPU class can run.
    """

    name = "virtualization_mode"
    description = "can run the appliance in a mode both sides support (simulator's CPU x mode matrix)"

    def modes(self, req) -> list[str]:
        return [req.virt_mode] if req.virt_mode else list(req.appliance.supported_modes or [])

    def class_modes(self, req) -> dict[tuple[bool, bool], list[str]]:
        """For each CPU class, the allowed modes the simulator accepts (memoised on the request)."""
        cache = req.cache.get("class_modes")
        if cache is None:
            cache = _CLASS_MODES.get((req.guest_key(), tuple(self.modes(req))))
        if cache is None:
            cache = {}
            for is_64bit, hw_virt in CPU_CLASSES:
                features = (["lm"] if is_64bit else []) + (["vmx"] if hw_virt else [])
                probe = Host(name=f"cpu-class-{'64' if is_64bit else '32'}{'-vt' if hw_virt else ''}",
                             cpu_features=features, memory_mib=1024, disk_gib=1)
                cache[(is_64bit, hw_virt)] = [
                    m for m in self.modes(req)
                    if driver.mode_check(probe, req.appliance, req.instance_type, m)[0]
                ]
            if len(_CLASS_MODES) >= 1024:
                _CLASS_MODES.clear()
            _CLASS_MODES[(req.guest_key(), tuple(self.modes(req)))] = cache
        req.cache["class_modes"] = cache
        return cache

    def _cpu_ok(self, req) -> Q:
        return _classes_q([c for c, modes in self.class_modes(req).items() if modes])

    def condition(self, req):
        cond = Q(pk__in=[])
        for mode in self.modes(req):
            classes = [c for c, modes in self.class_modes(req).items() if mode in modes]
            if not classes:
                continue
            cond |= Q(modes_csv__contains=f",{mode},") & _classes_q(classes)
        return cond

    def refusals(self, req):
        modes = self.modes(req)
        out = []
        for (is_64bit, hw_virt), ok in self.class_modes(req).items():
            if ok:
                continue
            missing = []
            if not hw_virt and "hardware_assisted" in modes:
                missing.append("VT-x/AMD-V (vmx/svm)")
            if not is_64bit and req.appliance.architecture == "x86_64":
                missing.append("a 64-bit CPU (lm)")
            key = f"cpu_{'64' if is_64bit else '32'}bit_{'vt' if hw_virt else 'no_vt'}"
            cond = _class_q(is_64bit, hw_virt)
            if missing:
                text = f"{' and '.join(missing)} for {_mode_words(modes)} mode"
                out.append(Refusal(key, cond, f"lacks {text}", f"lack {text}"))
                continue
            # Refused for another reason the simulator gives (e.g. a container needs the guest's kernel).
            probe = Host(name="this host", cpu_features=(["lm"] if is_64bit else []) + (["vmx"] if hw_virt else []),
                         memory_mib=1024, disk_gib=1)
            why = driver.mode_check(probe, req.appliance, req.instance_type, modes[0])[1] if modes else ()
            text = f"cannot run it in {_mode_words(modes)} mode" + (f" ({why[0]})" if why else "")
            out.append(Refusal(key, cond, text, text))
        offered = _mode_words(modes)
        out.append(Refusal("mode_not_offered", self._cpu_ok(req) & ~self.condition(req),
                           f"does not offer {offered} mode", f"do not offer {offered} mode"))
        return out


def _group_members(req) -> object:
    return Instance.objects.filter(placement_group=req.placement_group, state__in=LIVE_STATES, host__isnull=False)


@register
class AffinityFilter(HostFilter):
    """Strict affinity: once a group has a live member, its next members go to the same host(s)."""

    name = "affinity"
    description = "strict affinity group: on a host already running the group (any host for the first)"

    def condition(self, req):
        group = req.placement_group
        if group is None or not group.strict or group.strategy != "affinity":
            return None
        members = _group_members(req)
        return Q(Exists(members.filter(host=OuterRef("pk")))) | ~Q(Exists(members))

    def refusals(self, req):
        cond = self.condition(req)
        if cond is None:
            return []
        text = f"placement group {req.placement_group.name}'s host (strict affinity)"
        return [Refusal("affinity", ~cond, f"is not {text}", f"are not {text}")]


@register
class AntiAffinityFilter(HostFilter):
    name = "anti_affinity"
    description = "strict anti-affinity group: on a host not yet running a member of the group"

    def condition(self, req):
        group = req.placement_group
        if group is None or not group.strict or group.strategy != "anti-affinity":
            return None
        return ~Q(Exists(_group_members(req).filter(host=OuterRef("pk"))))

    def refusals(self, req):
        cond = self.condition(req)
        if cond is None:
            return []
        text = f"an instance of placement group {req.placement_group.name} (strict anti-affinity)"
        return [Refusal("anti_affinity", ~cond, f"already runs {text}", f"already run {text}")]


@register
class RamFilter(HostFilter):
    name = "memory"
    description = "free memory: (physical - reserved) x ram_allocation_ratio - used"

    def condition(self, req):
        return Q(free_memory__gte=req.instance_type.memory_mib)

    def refusals(self, req):
        return [Refusal("memory", ~self.condition(req), "lacks memory", "lack memory",
                        largest=FREE["free_memory"], largest_fmt=lambda v: mib_label(v, gib_only=True))]


@register
class CoreFilter(HostFilter):
    name = "vcpu"
    description = "free vCPUs: hardware threads x cpu_allocation_ratio - used"

    def condition(self, req):
        return Q(free_vcpus__gte=req.instance_type.vcpus)

    def refusals(self, req):
        return [Refusal("vcpu", ~self.condition(req), "lacks vCPUs", "lack vCPUs",
                        largest=FREE["free_vcpus"], largest_fmt=lambda v: f"{max(0, v)} vCPU")]


@register
class DiskFilter(HostFilter):
    name = "disk"
    description = "free disk: disk x disk_allocation_ratio - used"

    def condition(self, req):
        return Q(free_disk__gte=req.instance_type.disk_gib)

    def refusals(self, req):
        return [Refusal("disk", ~self.condition(req), "lacks disk space", "lack disk space",
                        largest=FREE["free_disk"], largest_fmt=lambda v: f"{max(0, v)} GiB of disk")]


@register
class NumInstancesFilter(HostFilter):
    name = "max_instances"
    description = "fewer instances than the host's max_instances"

    def condition(self, req):
        return Q(free_slots__gte=1)

    def refusals(self, req):
        return [Refusal("max_instances", ~self.condition(req), "is at its maximum number of instances",
                        "are at their maximum number of instances")]


@register
class ExcludeHostsFilter(HostFilter):
    """Hosts the caller rules out (a migration's source, hosts that already failed this request)."""

    name = "exclude"
    description = "not in the caller's exclusion list (e.g. a migration's source)"

    def condition(self, req):
        return ~Q(pk__in=list(req.exclude_host_ids)) if req.exclude_host_ids else None

    def refusals(self, req):
        cond = self.condition(req)
        if cond is None:
            return []
        return [Refusal("excluded", ~cond, "was excluded by the caller", "were excluded by the caller")]
