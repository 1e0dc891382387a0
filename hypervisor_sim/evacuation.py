"""Evacuation planning: empty a host by live-migrating its guests elsewhere.

Placement is first-fit decreasing by memory onto the compatible destination with the most free
memory left (spreading load, like a DRS-style weigher), refusing destinations that cannot run the
guest's mode, run an older hypervisor than the source, or lack capacity; every guest that cannot
move is reported with the reason for each candidate. Migrations then run in waves under a
per-host concurrency limit (vMotion's defaults: 4 on 1 GbE, 8 on 10 GbE), all migrations of a wave
sharing the source NIC (and each destination's NIC) through the fluid model of
migration.simulate_concurrent, so predicted durations and downtimes include the slowdown of
sharing. Nothing here moves anything: the plan is a prediction the portal can admit or refuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .cpu import check_compatibility
from .migration import MigrationConfig, simulate_concurrent
from .spec import GuestSpec, HostSpec, VirtMode

__all__ = ["EvacuationPlan", "FreeCapacity", "GuestMove", "default_concurrency", "plan_evacuation"]

TEN_GBE_MIBPS = 1000.0  # 10 GbE carries ~1190 MiB/s, 1 GbE ~119 MiB/s: anything >= this is "10 GbE class"


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
class GuestMove:
    guest_id: str
    destination: str
    wave: int
    start_s: float
    duration_s: float
    downtime_ms: float
    total_mib: float
    outcome: str
    converged_by: str | None
    reason: str


@dataclass(frozen=True)
class EvacuationPlan:
    source: str
    assignments: dict[str, str]  # guest id -> destination host name
    unplaceable: tuple[tuple[str, str], ...]  # (guest id, reason)
    waves: tuple[tuple[str, ...], ...]
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
            "unplaceable": [list(u) for u in self.unplaceable], "waves": [list(w) for w in self.waves],
            "per_host_concurrency": self.per_host_concurrency, "total_s": self.total_s,
            "downtime_ms": dict(self.downtime_ms),
            "moves": [m.__dict__.copy() for m in self.moves],
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
    """Assign, order and time the migrations that would empty `source`."""
    limit = per_host_concurrency if per_host_concurrency is not None else default_concurrency(source)
    if limit < 1:
        raise ValueError("per_host_concurrency must be >= 1")
    ids = [g[0] for g in guests]
    if len(set(ids)) != len(ids):
        raise ValueError("guest ids must be unique")
    free = {h.name: cap for h, cap in destinations if h.name != source.name}
    hosts = {h.name: h for h, _ in destinations if h.name != source.name}
    specs = {gid: (spec, VirtMode.parse(mode).value) for gid, spec, mode in guests}

    assignments: dict[str, str] = {}
    unplaceable: list[tuple[str, str]] = []
    for gid, spec, mode in sorted(guests, key=lambda g: (-g[1].memory_mib, -g[1].vcpus, g[0])):
        if spec.nic == "sriov":
            unplaceable.append((gid, "SR-IOV passthrough NIC pins the guest to its host: it cannot be live-migrated"))
            continue
        if not hosts:
            unplaceable.append((gid, "no destination hosts"))
            continue
        refusals, ok = [], []
        for name in sorted(hosts):
            why = _refusal(source, hosts[name], free[name], spec, mode)
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

    # Waves: largest guests first; at most `limit` per wave leaving the source and per destination.
    order = [gid for gid in sorted(assignments, key=lambda g: (-specs[g][0].memory_mib, g))]
    waves: list[list[str]] = []
    for gid in order:
        for wave in waves:
            per_dest = sum(1 for g in wave if assignments[g] == assignments[gid])
            if len(wave) < limit and per_dest < limit:
                wave.append(gid)
                break
        else:
            waves.append([gid])

    moves: list[GuestMove] = []
    now = 0.0
    for w, wave in enumerate(waves):
        incoming: dict[str, int] = {}
        for gid in wave:
            incoming[assignments[gid]] = incoming.get(assignments[gid], 0) + 1
        cfgs = []
        for gid in wave:
            spec = specs[gid][0]
            dest = hosts[assignments[gid]]
            cap = min(source.nic_mibps, dest.nic_mibps / incoming[dest.name])
            cfgs.append(MigrationConfig(
                memory_mib=spec.memory_mib, bandwidth_mibps=cap, dirty_rate_mibps=spec.workload.dirty_rate_mibps,
                dirty_model="wws", wws_fraction=spec.workload.wws_fraction, downtime_limit_ms=downtime_limit_ms,
                auto_converge=auto_converge, seed=seed + ids.index(gid),
            ))
        results = simulate_concurrent(cfgs, source.nic_mibps)
        for gid, res in zip(wave, results, strict=True):
            moves.append(GuestMove(gid, assignments[gid], w, now, res.total_s, res.downtime_ms, res.total_mib,
                                   res.outcome, res.converged_by, res.reason))
        now += max(r.total_s for r in results)

    return EvacuationPlan(
        source=source.name, assignments=assignments, unplaceable=tuple(unplaceable),
        waves=tuple(tuple(w) for w in waves), moves=tuple(moves), per_host_concurrency=limit, total_s=now,
        downtime_ms={m.guest_id: m.downtime_ms for m in moves},
    )
