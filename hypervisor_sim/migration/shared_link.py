"""Several migrations sharing links: equal shares, and a fluid max-min fair simulation with admission slots.

Fluid model: at every instant each active migration gets its max-min fair share of every link on its
path (progressive filling), capped at its own `bandwidth_mibps` (its NIC); when a round ends or a
migration finishes, the shares are recomputed. A round's duration is therefore set by the links, and
its stop-and-copy threshold uses the bandwidth it actually got. A link may also cap how many
migrations cross it at once (vMotion's 4 on 1 GbE, 8 on 10 GbE): the others wait in the given order,
and a freed slot starts the first waiting migration that fits, not the next wave.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..io import share_bandwidth
from .config import MigrationConfig, MigrationResult
from .engine import MigrationRun

__all__ = ["fair_shares", "simulate_concurrent", "simulate_shared", "split_link"]

_EPS = 1e-12


def split_link(link_mibps: float, n: int) -> float:
    """Bandwidth each of n concurrent greedy migrations gets on one link (equal shares)."""
    return share_bandwidth(link_mibps, n)[0]


def fair_shares(paths: Sequence[Sequence[str]], capacity: Mapping[str, float], caps: Sequence[float]) -> list[float]:
    """Max-min fair rates of flows crossing links (progressive filling): every flow grows at the same
    pace until a link on its path is full or it reaches its own cap."""
    rates = [0.0] * len(paths)
    left = {link: float(capacity[link]) for path in paths for link in path}
    growing = set(range(len(paths)))
    while growing:
        users = {link: [i for i in growing if link in paths[i]] for link in left}
        step = min([left[link] / len(u) for link, u in users.items() if u] + [caps[i] - rates[i] for i in growing])
        for i in growing:
            rates[i] += step
        for link, u in users.items():
            left[link] -= step * len(u)
        full = {link for link, room in left.items() if room <= _EPS * capacity[link]}
        growing = {i for i in growing if caps[i] - rates[i] > _EPS * caps[i] and not full.intersection(paths[i])}
    return rates


def simulate_shared(
    cfgs: Sequence[MigrationConfig],
    paths: Sequence[Sequence[str]],
    capacity: Mapping[str, float],
    *,
    limits: Mapping[str, int] | None = None,
) -> list[tuple[float, MigrationResult]]:
    """Run migrations over shared links; returns (start time, result) for each, in the given order.

    `paths[i]` names the links migration i crosses, `capacity` their MiB/s, `limits` how many migrations
    each link carries at once (none: all start at 0).
    """
    if len(paths) != len(cfgs):
        raise ValueError("give one path per migration")
    if any(c <= 0 for c in capacity.values()):
        raise ValueError("link bandwidth must be positive")
    limits = dict(limits or {})
    if any(n < 1 for n in limits.values()):
        raise ValueError("a link's concurrency limit must be >= 1")
    runs = [MigrationRun(c) for c in cfgs]
    starts: list[float] = [0.0] * len(runs)
    waiting = list(range(len(runs)))
    busy = dict.fromkeys(capacity, 0)
    remaining: dict[int, float] = {}
    round_start: dict[int, float] = {}
    sent: dict[int, float] = {}
    now = 0.0

    def admit() -> None:
        for i in list(waiting):
            if all(busy[link] < limits.get(link, len(runs)) for link in paths[i]):
                waiting.remove(i)
                starts[i] = round_start[i] = now
                remaining[i], sent[i] = runs[i].next_volume_mib(), 0.0
                for link in paths[i]:
                    busy[link] += 1

    admit()
    while remaining:
        active = sorted(remaining)
        rates = fair_shares([paths[i] for i in active], capacity, [runs[i].cfg.bandwidth_mibps for i in active])
        alloc = dict(zip(active, rates, strict=True))
        first = min(active, key=lambda i: (remaining[i] / alloc[i], i))
        dt = remaining[first] / alloc[first]
        now += dt
        for i in active:
            remaining[i] -= alloc[i] * dt
            sent[i] += alloc[i] * dt
        remaining[first] = 0.0  # exactly done, whatever the float rounding
        for i in active:
            if remaining[i] > _EPS * max(1.0, sent[i]):
                continue
            duration = now - round_start[i]
            runs[i].complete_round(duration, sent[i] / duration if duration > 0 else alloc[i])
            if runs[i].done:
                del remaining[i]
                for link in paths[i]:
                    busy[link] -= 1
            else:
                remaining[i], sent[i], round_start[i] = runs[i].next_volume_mib(), 0.0, now
        admit()
    return [(starts[i], r.result()) for i, r in enumerate(runs)]


def simulate_concurrent(cfgs: list[MigrationConfig], link_mibps: float) -> list[MigrationResult]:
    """Run several migrations at once over one link of `link_mibps` (each capped at its own NIC)."""
    if link_mibps <= 0:
        raise ValueError("link bandwidth must be positive")
    shared = simulate_shared(cfgs, [("link",)] * len(cfgs), {"link": link_mibps})
    return [result for _, result in shared]
