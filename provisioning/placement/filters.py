"""Host filters: each is a small named class registered in FILTERS, applied in order.

`apply` narrows a queryset (database side); `explain` describes, with numbers, the hosts this
filter removed from `before` (what is left after the previous filters).
"""
from __future__ import annotations

from django.db.models import F, Max, Q, QuerySet

from ..choices import LIVE_STATES
from ..models import Host, Instance

FILTERS: list[type[HostFilter]] = []


def register(cls):
    FILTERS.append(cls)
    return cls


def _gib(mib: float) -> str:
    return f"{mib / 1024:g} GiB"


class HostFilter:
    name = "base"

    def apply(self, qs: QuerySet[Host], req) -> QuerySet[Host]:  # pragma: no cover - interface
        raise NotImplementedError

    def explain(self, before: QuerySet[Host], req) -> list[str]:
        removed = before.count() - self.apply(before, req).count()
        return [self.reason(removed, req)] if removed else []

    def reason(self, removed: int, req) -> str:
        return f"{removed} rejected by {self.name}"


@register
class HostStateFilter(HostFilter):
    name = "state"

    def apply(self, qs, req):
        return qs.filter(state="enabled", is_up=True)

    def explain(self, before, req):
        out = []
        for state, words in (("maintenance", "in maintenance"), ("disabled", "disabled")):
            n = before.filter(state=state).count()
            if n:
                out.append(f"{n} {'is' if n == 1 else 'are'} {words}")
        down = before.filter(state="enabled", is_up=False).count()
        if down:
            out.append(f"{down} {'is' if down == 1 else 'are'} down")
        return out


@register
class AvailabilityZoneFilter(HostFilter):
    name = "availability_zone"

    def apply(self, qs, req):
        return qs.filter(availability_zone=req.availability_zone) if req.availability_zone else qs

    def reason(self, removed, req):
        return f"{removed} are outside {req.availability_zone}"


@register
class ArchitectureFilter(HostFilter):
    name = "architecture"

    def apply(self, qs, req):
        return qs.filter(is_64bit=True) if req.appliance.architecture == "x86_64" else qs

    def reason(self, removed, req):
        return f"{removed} lack a 64-bit CPU (lm) for this x86_64 appliance"


@register
class VirtModeFilter(HostFilter):
    """Host must offer at least one mode the appliance is built for (and the one requested)."""

    name = "virtualization_mode"

    def modes(self, req) -> list[str]:
        modes = list(req.appliance.supported_modes or [])
        return [req.virt_mode] if req.virt_mode else modes

    def apply(self, qs, req):
        cond = Q(pk__in=[])
        for mode in self.modes(req):
            cond |= Q(modes_csv__contains=f",{mode},")
        return qs.filter(cond)

    def reason(self, removed, req):
        modes = self.modes(req)
        if modes == ["hardware_assisted"]:
            return f"{removed} lack VT-x/AMD-V (vmx/svm) for hardware-assisted mode"
        if modes == ["container"]:
            return f"{removed} do not run OS-level containers"
        names = " or ".join(m.replace("_", "-") for m in modes)
        return f"{removed} support none of {names}"


@register
class CapacityFilter(HostFilter):
    """vCPU x cpu_allocation_ratio, memory x ram ratio less reserved, disk, max instances per host."""

    name = "capacity"

    def apply(self, qs, req):
        it = req.instance_type
        return qs.filter(
            vcpus_used__lte=F("vcpus_limit") - it.vcpus,
            memory_mib_used__lte=F("memory_mib_limit") - it.memory_mib,
            disk_gib_used__lte=F("disk_gib_limit") - it.disk_gib,
            instances_used__lte=F("max_instances") - 1,
        )

    def explain(self, before, req):
        it = req.instance_type
        out = []
        checks = (
            ("memory", Q(memory_mib_used__gt=F("memory_mib_limit") - it.memory_mib),
             F("memory_mib_limit") - F("memory_mib_used"), _gib),
            ("vCPUs", Q(vcpus_used__gt=F("vcpus_limit") - it.vcpus),
             F("vcpus_limit") - F("vcpus_used"), lambda v: f"{v} vCPU"),
            ("disk", Q(disk_gib_used__gt=F("disk_gib_limit") - it.disk_gib),
             F("disk_gib_limit") - F("disk_gib_used"), lambda v: f"{v} GiB"),
        )
        for label, lacking, free_expr, fmt in checks:
            n = before.filter(lacking).count()
            if n:
                largest = before.aggregate(m=Max(free_expr))["m"] or 0
                out.append(f"{n} lack {label} (largest free {fmt(max(0, largest))})")
        full = before.filter(instances_used__gt=F("max_instances") - 1).count()
        if full:
            out.append(f"{full} are at their maximum number of instances")
        return out


@register
class PlacementGroupFilter(HostFilter):
    """Affinity: hosts already running the group's instances; anti-affinity: hosts not running them."""

    name = "placement_group"

    def _group_hosts(self, req):
        return Instance.objects.filter(
            placement_group=req.placement_group, state__in=LIVE_STATES, host__isnull=False
        ).values("host_id")

    def apply(self, qs, req):
        group = req.placement_group
        if group is None or not group.strict:
            return qs
        if group.strategy == "anti-affinity":
            return qs.exclude(pk__in=self._group_hosts(req))
        members = self._group_hosts(req)
        return qs.filter(pk__in=members) if members.exists() else qs

    def reason(self, removed, req):
        if req.placement_group.strategy == "anti-affinity":
            return f"{removed} already run an instance of placement group {req.placement_group.name} (anti-affinity)"
        return f"{removed} do not run placement group {req.placement_group.name}'s instances (affinity)"


@register
class ExcludeHostsFilter(HostFilter):
    name = "exclude"

    def apply(self, qs, req):
        return qs.exclude(pk__in=req.exclude_host_ids) if req.exclude_host_ids else qs

    def reason(self, removed, req):
        return f"{removed} were excluded by the caller"
