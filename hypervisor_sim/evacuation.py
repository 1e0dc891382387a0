"""Evacuation timing: how long it takes to move a host's guests to the destinations they were given.

The provisioning placement filters are the one judge of where a guest may go (DESIGN.md); this module
only times the moves it is handed. `time_evacuation` starts the moves in the given order under a
concurrency limit per host (vMotion's defaults: 4 on 1 GbE, 8 on 10 GbE), each move crossing the
source's NIC and its destination's NIC, both shared max-min fairly between the moves on them
(migration.simulate_shared): a move starts as soon as a slot is free on both ends, it does not wait for
the slowest move of a wave. Predicted per-move time, downtime and outcome, and the wall time of it all.

`plan_evacuation` is the CLI's what-if: it also picks destinations (first-fit decreasing by memory onto
the compatible host with the most room, reasons for every refusal) and then times them the same way.
Nothing here moves anything.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .cpu import check_compatibility
from .migration import MigrationConfig, simulate_shared
from .spec import GuestSpec, HostSpec, VirtMode

__all__ = ["EvacuationPlan", "EvacuationTiming", "FreeCapacity", "GuestMove", "PlannedMove", "default_concurrency",
           "plan_evacuation", "time_evacuation"]

TEN_GBE_MIBPS = 1000.0  # 10 GbE carries ~1190 MiB/s, 1 GbE ~119 MiB/s: anything >= this is "10 GbE class"
SRIOV_PINNED = "SR-IOV passthrough NIC pins the guest to its host: it cannot be live-migrated"


@dataclass(frozen=True)
class FreeCapacity:
    """What a destination can still accept."""

    vcpus: int
    memory_mib: int
    disk_gib: int = 1 << 30

    def fits(self, guest: GuestSpec) -> bool:
        return guest.vcpus <= self.vcpus and guest.memory_mib <= self.memory_mib and guest.disk_gib <= self.disk_gib

    def minus(self, guest: GuestSpec) -> FreeCapacity:
        return FreeCapacity(self.vcpus - guest.vcpus, self.memory_mib - guest.memory_mib,
                            self.disk_gib - guest.disk_gib)


@dataclass(frozen=True)
class PlannedMove:
    """A move decided elsewhere (by the placement filters): this guest goes to this host."""

    guest_id: str
    guest: GuestSpec
    destination: HostSpec


@dataclass(frozen=True)
class GuestMove:
    """A timed move. `start_s` is when a slot freed up for it; times in simulated seconds from the start."""

    guest_id: str
    destination: str
    start_s: float
    duration_s: float
    downtime_ms: float
    total_mib: float
    outcome: str
    converged_by: str | None
    reason: str

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class EvacuationTiming:
    """The predicted moves of an evacuation, in the order given, and the wall time until the last ends."""

    source: str
    moves: tuple[GuestMove, ...]
    concurrency: dict[str, int]  # host name -> moves it carries at once
    total_s: float

    @property
    def feasible(self) -> bool:
        """True when every predicted migration completes."""
        return all(m.outcome == "completed" for m in self.moves)

    @property
    def downtime_ms(self) -> dict[str, float]:
        return {m.guest_id: m.downtime_ms for m in self.moves}

    def to_dict(self) -> dict:
        return {"source": self.source, "feasible": self.feasible, "total_s": self.total_s,
                "concurrency": dict(self.concurrency), "moves": [asdict(m) for m in self.moves]}


@dataclass(frozen=True)
class EvacuationPlan:
    """plan_evacuation's what-if: destinations it picked, guests it could not place, and their timing."""

    source: str
    assignments: dict[str, str]  # guest id -> destination host name
    unplaceable: tuple[tuple[str, str], ...]  # (guest id, reason)
    moves: tuple[GuestMove, ...]
    per_host_concurrency: int
    total_s: float
    downtime_ms: dict[str, float] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        """True when every guest has a destination and every predicted migration completes."""
        return not self.unplaceable and all(m.outcome == "completed" for m in self.moves)

    def to_dict(self) -> dict:
        return {
            "source": self.source, "feasible": self.feasible, "assignments": dict(self.assignments),
            "unplaceable": [list(u) for u in self.unplaceable],
            "per_host_concurrency": self.per_host_concurrency, "total_s": self.total_s,
            "downtime_ms": dict(self.downtime_ms), "moves": [asdict(m) for m in self.moves],
        }


def default_concurrency(host: HostSpec) -> int:
    """vMotion-style limit: 8 concurrent migrations per host on 10 GbE, 4 on 1 GbE."""
    return 8 if host.nic_mibps >= TEN_GBE_MIBPS else 4


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)) or (0,)


def _refusal(source: HostSpec, dest: HostSpec, free: FreeCapacity, guest: GuestSpec, mode: str) -> str | None:
    compat = check_compatibility(dest, guest, mode)
    if not compat.ok:
        return "; ".join(compat.reasons)
    if _version(dest.hypervisor_version) < _version(source.hypervisor_version):
        return (f"runs hypervisor {dest.hypervisor_version}, older than the source's "
                f"{source.hypervisor_version}")
    short = []
    if guest.vcpus > free.vcpus:
        short.append(f"{guest.vcpus} vCPU needed, {free.vcpus} free")
    if guest.memory_mib > free.memory_mib:
        short.append(f"{guest.memory_mib} MiB memory needed, {free.memory_mib} free")
    if guest.disk_gib > free.disk_gib:
        short.append(f"{guest.disk_gib} GiB disk needed, {free.disk_gib} free")
    return ", ".join(short) or None


def time_evacuation(
    source: HostSpec,
    moves: Sequence[PlannedMove],
    *,
    concurrency: int | None = None,
    downtime_limit_ms: float = 300.0,
    auto_converge: bool = True,
    seed: int = 0,
    **options: Any,
) -> EvacuationTiming:
    """Predict the moves that empty `source`: per-move start, duration, downtime and outcome, and the total.

    `concurrency`: moves a host (source or destination) carries at once; default per host by its NIC
    (`default_concurrency`). Moves start in the given order as slots free up; one whose destination is
    full lets the next pass. `options` go to every MigrationConfig (e.g. `max_rounds`, `resume_ms`);
    move i uses seed `seed + i`.
    """
    if concurrency is not None and concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    ids = [m.guest_id for m in moves]
    if len(set(ids)) != len(ids):
        raise ValueError("guest ids must be unique")
    hosts = {source.name: source}
    for m in moves:
        if m.destination.name == source.name:
            raise ValueError(f"{m.guest_id}: the destination is the source host {source.name}")
        if m.guest.nic == "sriov":
            raise ValueError(f"{m.guest_id}: {SRIOV_PINNED}")
        hosts.setdefault(m.destination.name, m.destination)
    limit = {name: concurrency or default_concurrency(h) for name, h in hosts.items()}
    cfgs = [MigrationConfig.for_guest(m.guest, source, m.destination, downtime_limit_ms=downtime_limit_ms,
                                      auto_converge=auto_converge, seed=seed + i, **options)
            for i, m in enumerate(moves)]
    shared = simulate_shared(
        cfgs, [(f"out:{source.name}", f"in:{m.destination.name}") for m in moves],
        {f"out:{source.name}": source.nic_mibps} | {f"in:{n}": h.nic_mibps for n, h in hosts.items()},
        limits={f"out:{source.name}": limit[source.name]} | {f"in:{n}": limit[n] for n in hosts},
    )
    timed = tuple(GuestMove(m.guest_id, m.destination.name, start, res.total_s, res.downtime_ms, res.total_mib,
                            res.outcome, res.converged_by, res.reason)
                  for m, (start, res) in zip(moves, shared, strict=True))
    return EvacuationTiming(source.name, timed, {n: limit[n] for n in hosts},
                            max((m.end_s for m in timed), default=0.0))


def plan_evacuation(
    source: HostSpec,
    guests: list[tuple[str, GuestSpec, str]],
    destinations: list[tuple[HostSpec, FreeCapacity]],
    *,
    per_host_concurrency: int | None = None,
    downtime_limit_ms: float = 300,
    auto_converge: bool = True,
    seed: int = 0,
) -> EvacuationPlan:
    """What-if for the CLI: pick destinations for `source`'s guests, then time the moves (largest first).

    The portal does not use this to place guests: its placement filters decide, and time_evacuation
    times their decision.
    """
    limit = per_host_concurrency if per_host_concurrency is not None else default_concurrency(source)
    if limit < 1:
        raise ValueError("per_host_concurrency must be >= 1")
    ids = [g[0] for g in guests]
    if len(set(ids)) != len(ids):
        raise ValueError("guest ids must be unique")
    free = {h.name: cap for h, cap in destinations if h.name != source.name}
    hosts = {h.name: h for h, _ in destinations if h.name != source.name}
    specs = {gid: spec for gid, spec, _ in guests}

    assignments: dict[str, str] = {}
    unplaceable: list[tuple[str, str]] = []
    for gid, spec, mode in sorted(guests, key=lambda g: (-g[1].memory_mib, -g[1].vcpus, g[0])):
        if spec.nic == "sriov":
            unplaceable.append((gid, SRIOV_PINNED))
            continue
        if not hosts:
            unplaceable.append((gid, "no destination hosts"))
            continue
        refusals, ok = [], []
        for name in sorted(hosts):
            why = _refusal(source, hosts[name], free[name], spec, VirtMode.parse(mode).value)
            if why is None:
                ok.append(name)
            else:
                refusals.append(f"{name}: {why}")
        if not ok:
            unplaceable.append((gid, "no destination can take it: " + " | ".join(refusals)))
            continue
        best = max(ok, key=lambda n: (free[n].memory_mib - spec.memory_mib, free[n].vcpus, n))
        assignments[gid] = best
        free[best] = free[best].minus(spec)

    order = sorted(assignments, key=lambda g: (-specs[g].memory_mib, g))
    timing = time_evacuation(source, [PlannedMove(g, specs[g], hosts[assignments[g]]) for g in order],
                             concurrency=limit, downtime_limit_ms=downtime_limit_ms, auto_converge=auto_converge,
                             seed=seed)
    return EvacuationPlan(
        source=source.name, assignments=assignments, unplaceable=tuple(unplaceable), moves=timing.moves,
        per_host_concurrency=limit, total_s=timing.total_s, downtime_ms=timing.downtime_ms,
    )
