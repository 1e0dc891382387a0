"""Host weighers: each a small named class in the WEIGHERS registry (Nova style).

Each scores the candidate hosts in [0, 1]; a host's weight is the sum of score x multiplier, the
multipliers coming from `settings.SKYPORT_WEIGHERS` (name -> float; 0 turns a weigher off).
Spread (positive free-memory / free-vCPU multipliers, the default, like Nova's RAMWeigher) fills
the emptiest hosts first; negative multipliers stack guests onto the fullest hosts that fit.

Weighers that need other tables (image cache, page sharing, soft affinity) declare `annotations`:
EXISTS subqueries that ride along in the scheduler's single candidate query, evaluated only for
the candidate window, so weighing costs no query of its own whatever the fleet size.
"""
from __future__ import annotations

from django.conf import settings
from django.db.models import Exists, OuterRef

from ..choices import LIVE_STATES
from ..models import Host, Instance
from .request import CandidateHost, PlacementRequest

WEIGHERS: list[type[HostWeigher]] = []


def register(cls: type[HostWeigher]) -> type[HostWeigher]:
    WEIGHERS.append(cls)
    return cls


def multiplier(name: str, default: float) -> float:
    """The configured multiplier of weigher `name` (settings.SKYPORT_WEIGHERS), else its default."""
    return float((getattr(settings, "SKYPORT_WEIGHERS", None) or {}).get(name, default))


def normalise(raw: dict[int, float]) -> dict[int, float]:
    """Min-max to [0, 1] across the candidates (all equal -> all 0), as Nova's weighers do."""
    if not raw:
        return {}
    lo, hi = min(raw.values()), max(raw.values())
    if hi == lo:
        return {k: 0.0 for k in raw}
    return {k: (v - lo) / (hi - lo) for k, v in raw.items()}


class HostWeigher:
    name = "base"
    default_multiplier = 1.0
    description = ""

    def annotations(self, req: PlacementRequest) -> dict:
        """Extra columns (expressions) this weigher needs on each candidate host."""
        return {}

    def scores(self, hosts: list[CandidateHost], req: PlacementRequest) -> dict[int, float]:  # pragma: no cover
        raise NotImplementedError

    @property
    def multiplier(self) -> float:
        return multiplier(self.name, self.default_multiplier)


@register
class FreeMemoryWeigher(HostWeigher):
    name = "free_memory"
    default_multiplier = 1.0
    description = "free memory after placement; > 0 spreads, < 0 stacks"

    def scores(self, hosts, req):
        return normalise({h.id: h.memory_mib_limit - h.memory_mib_used for h in hosts})


@register
class FreeVcpuWeigher(HostWeigher):
    name = "free_vcpu"
    default_multiplier = 0.5
    description = "free vCPUs; > 0 spreads, < 0 stacks"

    def scores(self, hosts, req):
        return normalise({h.id: h.vcpus_limit - h.vcpus_used for h in hosts})


class _FlagWeigher(HostWeigher):
    """Scores 1 for hosts where an EXISTS annotation is true, else 0."""

    flag = ""

    def subquery(self, req):  # pragma: no cover - interface
        raise NotImplementedError

    def annotations(self, req):
        sub = self.subquery(req)
        return {} if sub is None else {self.flag: Exists(sub)}

    def scores(self, hosts, req):
        return {h.id: 1.0 if getattr(h, self.flag, False) else 0.0 for h in hosts}


@register
class ImageCacheWeigher(_FlagWeigher):
    """A host that caches the appliance image clones it copy-on-write instead of copying gigabytes."""

    name = "image_cache"
    default_multiplier = 0.6
    description = "host already caches the appliance image (copy-on-write clone, no full copy)"
    flag = "w_image_cached"

    def subquery(self, req):
        through = Host.cached_appliances.through
        return through.objects.filter(host_id=OuterRef("pk"), appliance_id=req.appliance.pk)


@register
class PageSharingWeigher(_FlagWeigher):
    """Guests of the same appliance on one host share identical memory pages (page sharing / KSM)."""

    name = "page_sharing"
    default_multiplier = 0.3
    description = "host already runs guests of the same appliance (shared memory pages)"
    flag = "w_same_appliance"

    def subquery(self, req):
        return Instance.objects.filter(host_id=OuterRef("pk"), appliance_id=req.appliance.pk,
                                       state__in=LIVE_STATES)


@register
class SoftAffinityWeigher(_FlagWeigher):
    """Soft (non-strict) placement groups: prefer, but do not require, the group's rule."""

    name = "soft_affinity"
    default_multiplier = 2.0
    description = "soft affinity: prefer the group's hosts; soft anti-affinity: prefer other hosts"
    flag = "w_runs_group"

    def subquery(self, req):
        group = req.placement_group
        if group is None or group.strict:
            return None
        return Instance.objects.filter(host_id=OuterRef("pk"), placement_group=group, state__in=LIVE_STATES)

    def scores(self, hosts, req):
        group = req.placement_group
        if group is None or group.strict:
            return {h.id: 0.0 for h in hosts}
        want = group.strategy == "affinity"
        return {h.id: 1.0 if bool(getattr(h, self.flag, False)) == want else 0.0 for h in hosts}


def active_weighers() -> list[tuple[HostWeigher, float]]:
    """Each registered weigher with its multiplier, leaving out the ones switched off (0)."""
    out = []
    for cls in WEIGHERS:
        w = cls()
        m = w.multiplier
        if m:
            out.append((w, m))
    return out


def request_weighers(req: PlacementRequest) -> list[tuple[HostWeigher, float]]:
    """`active_weighers()`, memoised on the request (the SQL cache key and the ranking both need it)."""
    found = req.cache.get("weighers")
    if found is None:
        found = req.cache["weighers"] = active_weighers()
    return found


def weigh(hosts: list[CandidateHost], req: PlacementRequest) -> list[tuple[CandidateHost, float, dict[str, float]]]:
    """Rank `hosts` (already carrying the weighers' annotations): best first, ties by name.

    Returns each host with its weight and each weigher's contribution (score x multiplier).
    """
    totals = {h.id: 0.0 for h in hosts}
    parts: dict[int, dict[str, float]] = {h.id: {} for h in hosts}
    for w, m in request_weighers(req):
        for pk, score in w.scores(hosts, req).items():
            totals[pk] += m * score
            parts[pk][w.name] = m * score
    ranked = sorted(hosts, key=lambda h: (-totals[h.id], h.name))
    return [(h, totals[h.id], parts[h.id]) for h in ranked]
