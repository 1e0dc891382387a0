"""Several migrations sharing one link: equal shares, and a fluid max-min fair simulation."""

from __future__ import annotations

from ..io import share_bandwidth
from .config import MigrationConfig, MigrationResult
from .engine import MigrationRun

__all__ = ["simulate_concurrent", "split_link"]


def split_link(link_mibps: float, n: int) -> float:
    """Bandwidth each of n concurrent greedy migrations gets on one link (equal shares)."""
    return share_bandwidth(link_mibps, n)[0]


def simulate_concurrent(cfgs: list[MigrationConfig], link_mibps: float) -> list[MigrationResult]:
    """Run several migrations at once over one link of `link_mibps`.

    Fluid model: at every instant the link is split max-min fairly among the active migrations,
    each capped at its own `bandwidth_mibps` (its NIC); when one round ends or one migration
    finishes, the shares are recomputed. A round's duration is therefore set by the link, and its
    stop-and-copy threshold uses the bandwidth it actually got.
    """
    if link_mibps <= 0:
        raise ValueError("link bandwidth must be positive")
    runs = [MigrationRun(c) for c in cfgs]
    now = 0.0
    remaining = {i: r.next_volume_mib() for i, r in enumerate(runs) if not r.done}
    started = dict.fromkeys(remaining, 0.0)
    sent = dict.fromkeys(remaining, 0.0)
    eps = 1e-12
    while remaining:
        active = sorted(remaining)
        alloc = dict(zip(active, share_bandwidth(link_mibps, [runs[i].cfg.bandwidth_mibps for i in active]),
                         strict=True))
        first = min(active, key=lambda i: (remaining[i] / alloc[i], i))
        dt = remaining[first] / alloc[first]
        now += dt
        for i in active:
            moved = alloc[i] * dt
            remaining[i] -= moved
            sent[i] += moved
        remaining[first] = 0.0  # exactly done, whatever the float rounding
        for i in active:
            if remaining[i] <= eps * max(1.0, sent[i]):
                duration = now - started[i]
                bw = sent[i] / duration if duration > 0 else alloc[i]
                runs[i].complete_round(duration, bw)
                if runs[i].done:
                    del remaining[i]
                else:
                    remaining[i] = runs[i].next_volume_mib()
                    started[i] = runs[i].elapsed_s
                    sent[i] = 0.0
    return [r.result() for r in runs]
