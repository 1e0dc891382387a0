"""Pick hosts for a request: database filters, a short candidate list, weighers, mode check."""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import F

from .. import driver
from ..models import Appliance, Host, InstanceType, PlacementGroup
from .filters import FILTERS
from .weighers import weigh

CANDIDATE_LIMIT = 16


@dataclass
class PlacementRequest:
    appliance: Appliance
    instance_type: InstanceType
    availability_zone: str = ""
    virt_mode: str = ""
    placement_group: PlacementGroup | None = None
    exclude_host_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Placement:
    host: Host
    virt_mode: str
    weight: float


def filtered(req: PlacementRequest):
    qs = Host.objects.all()
    for cls in FILTERS:
        qs = cls().apply(qs, req)
    return qs


def candidates(req: PlacementRequest, *, limit: int = CANDIDATE_LIMIT) -> list[Placement]:
    """Ranked hosts that can take the request now (claims still decide, atomically)."""
    multiplier_sign = -1 if _stacking() else 1
    order = (F("memory_mib_limit") - F("memory_mib_used")) * multiplier_sign
    hosts = list(filtered(req).order_by(order.desc(), "name")[:limit])
    out = []
    for host, weight in weigh(hosts, req):
        mode, _ = driver.mode_choose(host, req.appliance, req.instance_type, req.virt_mode or None)
        if mode:
            out.append(Placement(host, mode, weight))
    return out


def _stacking() -> bool:
    from .weighers import multiplier

    return multiplier("free_memory", 1.0) < 0


def _size(req: PlacementRequest) -> str:
    it = req.instance_type
    return f"{it.vcpus} vCPU / {it.memory_mib / 1024:g} GiB"


def explain(req: PlacementRequest) -> dict:
    """Why no host fits, per filter, with numbers; `message` is the one-line summary."""
    before = Host.objects.all()
    total = before.count()
    reasons: list[str] = []
    per_filter: dict[str, list[str]] = {}
    for cls in FILTERS:
        f = cls()
        lines = f.explain(before, req)
        if lines:
            per_filter[f.name] = lines
            reasons.extend(lines)
        before = f.apply(before, req)
    remaining = list(before.order_by("name")[:CANDIDATE_LIMIT])
    mode_refusals = []
    for host in remaining:
        mode, why = driver.mode_choose(host, req.appliance, req.instance_type, req.virt_mode or None)
        if not mode:
            mode_refusals.append(f"{host.name}: {'; '.join(why)}")
    if mode_refusals:
        per_filter["mode_compatibility"] = mode_refusals
        reasons.append(f"{len(mode_refusals)} cannot run it in a compatible mode ({mode_refusals[0]})")
    where = f" in {req.availability_zone}" if req.availability_zone else ""
    summary = ", ".join(reasons) if reasons else "every candidate was claimed by other requests"
    message = f"No host{where} can take {_size(req)} for {req.appliance.name}: {summary} (of {total} hosts)."
    return {"message": message, "hosts_total": total, "filters": per_filter}


def dry_run(req: PlacementRequest) -> dict:
    """Staff what-if: where would this go, and why not elsewhere."""
    cands = candidates(req)
    result = {
        "candidates": [{"host": p.host.name, "virt_mode": p.virt_mode, "weight": round(p.weight, 4),
                        "availability_zone": p.host.availability_zone} for p in cands],
        "chosen": cands[0].host.name if cands else None,
    }
    result["explanation"] = explain(req)
    return result
