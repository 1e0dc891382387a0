"""Host weighers: each scores candidates in [0, 1]; the total is a sum of score x multiplier.

Spread (positive free-memory multiplier) is the default, like Nova's RAMWeigher; a negative
multiplier stacks. Cached images and same-appliance neighbours (page sharing) add a bonus.
"""
from __future__ import annotations

from django.conf import settings

from ..choices import LIVE_STATES
from ..models import Host, Instance

WEIGHERS: list[type[HostWeigher]] = []


def register(cls):
    WEIGHERS.append(cls)
    return cls


def multiplier(name: str, default: float) -> float:
    return float(getattr(settings, "SKYPORT_WEIGHERS", {}).get(name, default))


class HostWeigher:
    name = "base"
    default_multiplier = 1.0

    def scores(self, hosts: list[Host], req) -> dict[int, float]:  # pragma: no cover - interface
        raise NotImplementedError


def _normalise(raw: dict[int, float]) -> dict[int, float]:
    if not raw:
        return {}
    lo, hi = min(raw.values()), max(raw.values())
    if hi == lo:
        return {k: 0.0 for k in raw}
    return {k: (v - lo) / (hi - lo) for k, v in raw.items()}


@register
class FreeMemoryWeigher(HostWeigher):
    name = "free_memory"
    default_multiplier = 1.0

    def scores(self, hosts, req):
        return _normalise({h.pk: h.memory_mib_limit - h.memory_mib_used for h in hosts})


@register
class FreeVcpuWeigher(HostWeigher):
    name = "free_vcpu"
    default_multiplier = 0.5

    def scores(self, hosts, req):
        return _normalise({h.pk: h.vcpus_limit - h.vcpus_used for h in hosts})


@register
class ImageCacheWeigher(HostWeigher):
    """A host that caches the appliance clones it copy-on-write instead of copying gigabytes."""

    name = "image_cache"
    default_multiplier = 0.6

    def scores(self, hosts, req):
        through = Host.cached_appliances.through
        cached = set(
            through.objects.filter(host_id__in=[h.pk for h in hosts], appliance_id=req.appliance.pk)
            .values_list("host_id", flat=True)
        )
        return {h.pk: 1.0 if h.pk in cached else 0.0 for h in hosts}


@register
class PageSharingWeigher(HostWeigher):
    """Guests of the same appliance on one host share identical pages (transparent page sharing)."""

    name = "page_sharing"
    default_multiplier = 0.3

    def scores(self, hosts, req):
        ids = set(
            Instance.objects.filter(
                host_id__in=[h.pk for h in hosts], appliance_id=req.appliance.pk, state__in=LIVE_STATES
            ).values_list("host_id", flat=True)
        )
        return {h.pk: 1.0 if h.pk in ids else 0.0 for h in hosts}


@register
class SoftAffinityWeigher(HostWeigher):
    """Soft (non-strict) placement groups: prefer, but do not require, the rule."""

    name = "soft_affinity"
    default_multiplier = 2.0

    def scores(self, hosts, req):
        group = req.placement_group
        if group is None or group.strict:
            return {h.pk: 0.0 for h in hosts}
        members = set(
            Instance.objects.filter(placement_group=group, state__in=LIVE_STATES, host__isnull=False)
            .values_list("host_id", flat=True)
        )
        want = group.strategy == "affinity"
        return {h.pk: 1.0 if (h.pk in members) == want else 0.0 for h in hosts}


def weigh(hosts: list[Host], req) -> list[tuple[Host, float]]:
    totals = {h.pk: 0.0 for h in hosts}
    for cls in WEIGHERS:
        w = cls()
        m = multiplier(w.name, w.default_multiplier)
        if m == 0:
            continue
        for pk, score in w.scores(hosts, req).items():
            totals[pk] += m * score
    ranked = sorted(hosts, key=lambda h: (-totals[h.pk], h.name))
    return [(h, totals[h.pk]) for h in ranked]
