"""Pick hosts for a request: database filters, a short ranked candidate window, weighers, modes.

`candidates` is ONE query whatever the fleet size: every filter's condition ANDed over the free-
capacity aliases, ordered by free memory (the partial expression indexes make that an index walk
that stops after the window), with the weighers' EXISTS annotations computed for the window only.
`explain` is one aggregate query that counts, per filter and reason, the hosts refused.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from django.db import connection
from django.db.models import Count, Max, Q, QuerySet

from ..choices import MODE_PREFERENCE
from ..db import inline, prepared_cursor
from ..models import Host
from ..units import mib_label
from .filters import FILTERS, FREE, VirtModeFilter
from .request import CandidateHost, PlacementRequest
from .weighers import multiplier, request_weighers, weigh

# How many hosts, best by free capacity, the weighers rank (Nova's host_subset / max results).
CANDIDATE_LIMIT = 16
# What weighers, the mode choice, claims, address allocation and the dry run read from a candidate
# (no JSON columns to decode); anything else is loaded on access.
CANDIDATE_FIELDS = ("name", "availability_zone", "state", "is_up", "is_64bit", "has_hw_virt", "modes_csv",
                    "network_cidr", "vcpus_limit", "memory_mib_limit", "disk_gib_limit", "max_instances",
                    "vcpus_used", "memory_mib_used", "disk_gib_used", "instances_used", "hypervisor_version")


@dataclass(frozen=True)
class Placement:
    row: CandidateHost
    virt_mode: str
    weight: float
    weights: dict = field(default_factory=dict, compare=False)

    @property
    def host_id(self) -> int:
        return self.row.id

    @cached_property
    def host(self) -> Host:
        """The chosen host as a model, built on first use (the claimed one only, on the hot path)."""
        return self.row.model()


def hosts():
    """Every host, with the free-capacity aliases the filters refer to."""
    return Host.objects.alias(**FREE)


def conditions(req: PlacementRequest) -> Q:
    cond = Q()
    for cls in FILTERS:
        c = cls().condition(req)
        if c is not None:
            cond &= c
    return cond


def filtered(req: PlacementRequest):
    """Hosts that pass every filter (a lazy queryset)."""
    return hosts().filter(conditions(req))


def _window_order(req: PlacementRequest) -> list:
    """Spread: most free memory first; stack (negative multiplier): least free that still fits."""
    m = multiplier("free_memory", 1.0)
    key = "free_memory"
    if m == 0:
        m, key = multiplier("free_vcpu", 0.5), "free_vcpus"
    return [f"-{key}" if m >= 0 else key, "pk"]


def _mode_order(req: PlacementRequest) -> dict[tuple[bool, bool], list[tuple[str, str]]]:
    """Per CPU class, the modes the simulator accepts, fastest first, with their `modes_csv` needle
    (memoised on the request: the same for every candidate)."""
    order = req.cache.get("mode_order")
    if order is None:
        rank = {m: i for i, m in enumerate(MODE_PREFERENCE)}
        order = {cpu: [(m, f",{m},") for m in sorted(allowed, key=lambda m: rank.get(m, 99))]
                 for cpu, allowed in VirtModeFilter().class_modes(req).items()}
        req.cache["mode_order"] = order
    return order


def mode_for(host: Host | CandidateHost, req: PlacementRequest) -> str | None:
    """Fastest mode the host offers and the simulator accepts for its CPU class (None if none)."""
    return _first_mode(host, _mode_order(req))


def _first_mode(host: Host | CandidateHost, order: dict) -> str | None:
    offered = host.modes_csv
    for mode, needle in order[(bool(host.is_64bit), bool(host.has_hw_virt))]:
        if needle in offered:
            return mode
    return None


# Compiled candidate SQL per request shape: building a queryset of a dozen filters costs more
# Python time than PostgreSQL needs to answer it. Keyed by everything the SQL depends on. On
# PostgreSQL the values are inlined, so the statement is prepared (planned once per connection)
# with its real values: its plan relies on them (the partial indexes' predicate).
_SQL_CACHE: dict[tuple, tuple[str, tuple | None]] = {}
_SQL_CACHE_MAX = 512
_COLUMNS: dict[str, list[str]] = {}  # result column names per candidate statement


def _shape(req: PlacementRequest, limit: int) -> tuple:
    group = req.placement_group
    return (
        connection.alias, connection.vendor, limit, req.guest_key(), req.availability_zone, req.virt_mode,
        (group.pk, group.strategy, group.strict) if group is not None else None, tuple(req.exclude_host_ids),
        tuple((w.name, m) for w, m in request_weighers(req)), tuple(_window_order(req)),
    )


def candidate_sql(req: PlacementRequest, limit: int = CANDIDATE_LIMIT) -> tuple[str, tuple | None]:
    """The one statement `candidates` runs: filtered window + the weighers' annotations."""
    def build():
        annotations = {}
        for w, _m in request_weighers(req):
            annotations.update(w.annotations(req))
        return _window(req, limit).annotate(**annotations)

    return _cached_sql(_shape(req, limit), build)


def _window(req: PlacementRequest, limit: int) -> QuerySet:
    """The hosts the filters let through, the first `limit` in the window's order."""
    window = filtered(req).order_by(*_window_order(req)).values("pk")[:limit]
    return Host.objects.filter(pk__in=window).only(*CANDIDATE_FIELDS).order_by()


def _cached_sql(key: tuple, build: Callable[[], QuerySet]) -> tuple[str, tuple | None]:
    """The statement of `build()`'s queryset with its values inlined, built once per request shape."""
    hit = _SQL_CACHE.get(key)
    if hit is None:
        hit = inline(*build().query.sql_with_params())
        if len(_SQL_CACHE) >= _SQL_CACHE_MAX:
            _SQL_CACHE.clear()
            _COLUMNS.clear()
        _SQL_CACHE[key] = hit
    return hit


def candidates(req: PlacementRequest, *, limit: int = CANDIDATE_LIMIT, memo: dict | None = None) -> list[Placement]:
    """Ranked hosts that can take the request now (claims still decide, atomically). One query.

    `memo`: a dict kept by a caller that asks for many guests at once with nothing claimed between
    its calls (a dry run): guests of the same shape (image, type, zone, group, excluded hosts) then
    cost one query, not one each.
    """
    sql, params = candidate_sql(req, limit)
    if memo is not None:
        hit = memo.get((sql, params))
        if hit is None:
            hit = memo[(sql, params)] = candidates(req, limit=limit)
        return hit
    with prepared_cursor() as cur:
        cur.execute(sql, params)
        columns = _COLUMNS.get(sql)
        if columns is None:
            columns = _COLUMNS[sql] = [col[0] for col in cur.description]
        rows = [CandidateHost(columns, values) for values in cur.fetchall()]
    out = []
    order = _mode_order(req)
    for row, weight, parts in weigh(rows, req):
        mode = _first_mode(row, order)
        if mode:
            out.append(Placement(row, mode, weight, parts))
    return out


# Windows per statement in `candidate_windows`: far below SQLite's 500 terms of a compound SELECT.
WINDOWS_PER_STATEMENT = 200


def _window_sql(req: PlacementRequest, limit: int) -> tuple[str, tuple | None]:
    """The candidate statement without the weighers' columns (the same columns for every request)."""
    return _cached_sql(("window", *_shape(req, limit)), lambda: _window(req, limit))


def candidate_windows(reqs: list[PlacementRequest], *, limit: int = CANDIDATE_LIMIT) -> list[list[CandidateHost]]:
    """For each request, the hosts `candidates` would rank (the same filters, the same window), unranked:
    every window in ONE statement (UNION ALL, tagged by request), so a caller that weighs many guests at
    once (the balancer) pays one round trip whatever their number or the fleet's size."""
    out: list[list[CandidateHost]] = [[] for _ in reqs]
    for start in range(0, len(reqs), WINDOWS_PER_STATEMENT):
        parts, params = [], []
        for i, req in enumerate(reqs[start:start + WINDOWS_PER_STATEMENT], start):
            sql, p = _window_sql(req, limit)
            parts.append(f"SELECT {i} AS window_of, w.* FROM ({sql}) w")
            params.extend(p or ())
        with connection.cursor() as cur:
            cur.execute(" UNION ALL ".join(parts), tuple(params) if params else None)
            columns = [col[0] for col in cur.description]
            for values in cur.fetchall():
                row = CandidateHost(columns[1:], values[1:])
                if _first_mode(row, _mode_order(reqs[values[0]])):
                    out[values[0]].append(row)
    return out


def _size(req: PlacementRequest) -> str:
    it = req.instance_type
    return f"{it.vcpus} vCPU / {mib_label(it.memory_mib, gib_only=True)}"


def _counts(items: list[dict], total: int | None = None) -> str:
    """ "9 of 16 lack memory (largest free 24 GiB), 4 are in maintenance" ("of M" on the first only)."""
    return ", ".join(f"{x['hosts']} of {total} {x['text']}" if i == 0 and total is not None
                     else f"{x['hosts']} {x['text']}" for i, x in enumerate(items))


def explain(req: PlacementRequest, *, refused: bool = True) -> dict:
    """Why hosts cannot take the request, per filter, with numbers. One aggregate query.

    Each host in scope (the requested zone, else the fleet) is counted once, by the first filter in
    registry order that refuses it, so the counts add up. `message` is the refusal sentence ("No
    host in sky-1a can take 8 vCPU / 32 GiB: 9 of 16 lack memory (largest free 24 GiB), 4 are in
    maintenance, ..."), or for a what-if (`refused=False`) that finds hosts the same as `summary`, the
    neutral sentence a dry run shows ("12 of 16 hosts in sky-1a can take ...").
    """
    scope = Q()
    plan: list[tuple[str, str, object, object]] = []  # (filter name, alias, refusal, has_largest)
    aggs: dict = {"fleet": Count("pk")}
    filters = [cls() for cls in FILTERS]
    for f in filters:
        if f.scope and f.condition(req) is not None:
            scope &= f.condition(req)
    remaining = scope
    for f in filters:
        if f.scope:
            continue
        cond = f.condition(req)
        if cond is None:
            continue
        covered = Q(pk__in=[])
        for r in f.refusals(req):
            alias = f"r{len(plan)}"
            hit = remaining & r.condition & ~covered
            aggs[alias] = Count("pk", filter=hit)
            if r.largest is not None:
                aggs[f"{alias}_largest"] = Max(r.largest, filter=hit)
            plan.append((f.name, alias, r, r.largest is not None))
            covered |= r.condition
        alias = f"r{len(plan)}"
        aggs[alias] = Count("pk", filter=remaining & ~cond & ~covered)  # anything the reasons missed
        plan.append((f.name, alias, None, False))
        remaining &= cond
    aggs["scope"] = Count("pk", filter=scope)
    aggs["fit"] = Count("pk", filter=remaining)
    got = hosts().aggregate(**aggs)

    total, fit = got["scope"], got["fit"]
    refusals: list[dict] = []
    for name, alias, r, has_largest in plan:
        n = got[alias]
        if not n:
            continue
        largest = got.get(f"{alias}_largest") if has_largest else None
        text = r.words(n, largest) if r is not None else ("is" if n == 1 else "are") + f" refused by {name}"
        refusals.append({"filter": name, "reason": r.key if r else "other", "hosts": n, "text": text,
                         **({"largest_free": max(0, largest)} if largest is not None else {})})
    ordered = sorted(refusals, key=lambda x: -x["hosts"])  # stable: registry order breaks ties
    where = f" in {req.availability_zone}" if req.availability_zone else ""
    head = f"No host{where} can take {_size(req)}"
    if total == 0:
        message = f"{head}: there are no hosts{where or ' in the fleet'}."
    elif fit == 0:
        message = f"{head}: {_counts(ordered, total)}."
    else:  # they fitted when we looked, yet the claims failed: racing requests or full address pools
        taken = f"{fit} of {total} had room but were claimed by concurrent requests or have no free private address"
        message = f"{head}: {', '.join([taken] + ([_counts(ordered)] if ordered else []))}."
    summary = f"{fit} of {total} hosts{where} can take {_size(req)}"
    summary += f"; of the others, {_counts(ordered)}." if ordered else "."
    if not refused and fit:
        message = summary  # a what-if that found hosts: nothing was refused
    per_filter: dict[str, list[str]] = {}
    for x in refusals:
        per_filter.setdefault(x["filter"], []).append(f"{x['hosts']} {x['text']}")
    return {
        "message": message, "summary": summary, "hosts_total": total, "hosts_fit": fit,
        "hosts_fleet": got["fleet"], "refusals": ordered, "filters": per_filter, "request": req.describe(),
    }


def host_refusals(req: PlacementRequest, host: Host) -> list[dict]:
    """Why one named host cannot take the request, filter by filter (empty when it can).

    A query per filter: for staff who name a host (a migration's destination), not the hot path.
    """
    one = hosts().filter(pk=host.pk)
    out = []
    for f in (cls() for cls in FILTERS):
        cond = f.condition(req)
        if cond is None or one.filter(cond).exists():
            continue
        words = [r.singular for r in f.refusals(req) if one.filter(r.condition).exists()]
        out.append({"filter": f.name, "text": "; ".join(words) or f"is refused by {f.name}"})
    if not out and mode_for(host, req) is None:
        out.append({"filter": VirtModeFilter.name, "text": "offers no mode the guest can run in"})
    return out


def dry_run(req: PlacementRequest) -> dict:
    """Staff what-if: where would this go, and why not elsewhere. Claims nothing; JSON-ready."""
    cands = candidates(req)
    return {
        "request": req.describe(),
        "chosen": cands[0].host.name if cands else None,
        "virt_mode": cands[0].virt_mode if cands else None,
        "candidates": [
            {"rank": i + 1, "host": p.host.name, "availability_zone": p.host.availability_zone,
             "virt_mode": p.virt_mode, "weight": round(p.weight, 4),
             "weights": {k: round(v, 4) for k, v in p.weights.items()},
             "free": {"vcpus": p.host.vcpus_free, "memory_mib": p.host.memory_mib_free,
                      "disk_gib": p.host.disk_gib_free, "instances": p.host.max_instances - p.host.instances_used}}
            for i, p in enumerate(cands)
        ],
        "explanation": explain(req, refused=not cands),
    }
