"""Dirty-page models: how many distinct pages a guest dirties during one pre-copy round.

`uniform` -- the closed-form model of Liu et al. (HPDC 2011). The guest dirties *distinct* pages
at a constant rate D (MiB/s; p = D / page size pages per second, reduced by the throttle). Page
identities do not matter, so the model keeps an exact integer count: a round of duration T
dirties round(p * T) pages, capped at the guest's page count N (a page dirtied twice is one
page). closed_form.py gives the volumes this produces.

`wws` -- a writable working set (Clark et al. section 3.3). A contiguous hot set of
`wws_fraction` of the pages (at a seeded offset) receives `hot_rewrite_share` of the page writes,
the cold rest the remainder. Writes arrive as a Poisson process spread uniformly within each set,
so during a round each page is dirtied independently with p = 1 - exp(-writes / set size); hot
pages are rewritten many times but count once. The per-round dirty set is a numpy bool bitmap of
all N pages; set membership is drawn as geometric gaps between dirtied pages (exactly the
per-page Bernoulli process, O(dirtied pages) instead of O(N)) or as one vectorized uniform draw
when the set is dense. A 64 GiB guest (16.7 M pages) runs in tens of milliseconds of CPU.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from .config import MIB, MigrationConfig

__all__ = ["DirtyModel", "UniformDirty", "WwsDirty", "bernoulli_positions", "make_dirty_model"]


class DirtyModel(Protocol):
    """Counts the distinct pages a guest dirties during `duration_s` at throttle `throttle`.

    The built-in models also have `get_state()` / `set_state(data)` (plain JSON) so that a run can be
    saved between Celery tasks (MigrationRun.to_state).
    """

    def dirty(self, duration_s: float, throttle: float) -> int: ...


class UniformDirty:
    """Distinct pages at a constant rate, capped at the guest's pages (see module docstring)."""

    def __init__(self, n_pages: int, rate_pages_per_s: float) -> None:
        self.n_pages = n_pages
        self.rate = rate_pages_per_s

    def dirty(self, duration_s: float, throttle: float) -> int:
        return min(self.n_pages, int(round(self.rate * (1.0 - throttle) * duration_s)))

    def get_state(self) -> dict:
        return {}  # a pure function of its config

    def set_state(self, data: dict) -> None:
        pass


def bernoulli_positions(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    """Indices of n independent Bernoulli(p) trials that succeeded, in O(successes).

    Sparse: gaps between successes are geometric(p). Dense: one uniform draw per trial.
    """
    if n <= 0 or p <= 0.0:
        return np.empty(0, dtype=np.int64)
    if p >= 1.0:
        return np.arange(n, dtype=np.int64)
    if p > 0.25:
        return np.flatnonzero(rng.random(n) < p)
    expected = n * p
    chunk = int(expected + 6.0 * math.sqrt(expected) + 16)
    pos = np.cumsum(rng.geometric(p, size=chunk)) - 1
    parts = [pos]
    while parts[-1][-1] < n - 1:
        more = np.cumsum(rng.geometric(p, size=max(16, chunk // 8))) + parts[-1][-1]
        parts.append(more)
    out = np.concatenate(parts) if len(parts) > 1 else pos
    return out[: np.searchsorted(out, n)]


class WwsDirty:
    """Writable working set at page granularity with a numpy bitmap (see module docstring)."""

    def __init__(self, n_pages: int, rate_pages_per_s: float, wws_fraction: float, hot_share: float,
                 rng: np.random.Generator) -> None:
        self.n_pages = n_pages
        self.rate = rate_pages_per_s
        self.hot_pages = min(n_pages, max(1, int(round(n_pages * wws_fraction))))
        self.cold_pages = n_pages - self.hot_pages
        self.hot_share = hot_share if self.cold_pages else 1.0
        self.rng = rng
        self.hot_start = int(rng.integers(0, self.cold_pages + 1))
        self.bitmap = np.zeros(n_pages, dtype=bool)

    def get_state(self) -> dict:
        """Where the hot set is and the generator's position; its 128-bit integers as strings, so that no
        JSON store (or JavaScript reader) rounds them."""
        st = self.rng.bit_generator.state
        return {"hot_start": self.hot_start, "bit_generator": st["bit_generator"],
                "state": {k: str(v) for k, v in st["state"].items()},
                "has_uint32": st["has_uint32"], "uinteger": st["uinteger"]}

    def set_state(self, data: dict) -> None:
        kind = type(self.rng.bit_generator).__name__
        if data["bit_generator"] != kind:
            raise ValueError(f"saved random state is {data['bit_generator']}, this generator is {kind}")
        self.rng.bit_generator.state = {"bit_generator": kind, "state": {k: int(v) for k, v in data["state"].items()},
                                        "has_uint32": data["has_uint32"], "uinteger": data["uinteger"]}
        self.hot_start = int(data["hot_start"])

    def probabilities(self, duration_s: float, throttle: float) -> tuple[float, float]:
        """Per-page dirty probability in the hot and the cold set for one round."""
        writes = self.rate * (1.0 - throttle) * duration_s
        p_hot = -math.expm1(-self.hot_share * writes / self.hot_pages)
        p_cold = -math.expm1(-(1.0 - self.hot_share) * writes / self.cold_pages) if self.cold_pages else 0.0
        return p_hot, p_cold

    def dirty(self, duration_s: float, throttle: float) -> int:
        p_hot, p_cold = self.probabilities(duration_s, throttle)
        bm = self.bitmap
        bm[:] = False
        h0 = self.hot_start
        bm[h0 + bernoulli_positions(self.rng, self.hot_pages, p_hot)] = True
        cold = bernoulli_positions(self.rng, self.cold_pages, p_cold)
        cold[cold >= h0] += self.hot_pages  # the cold set is the pages outside [h0, h1)
        bm[cold] = True
        return int(np.count_nonzero(bm))


def make_dirty_model(cfg: MigrationConfig) -> DirtyModel:
    rate_pages = cfg.dirty_rate_mibps * MIB / cfg.page_size
    if cfg.dirty_model == "uniform":
        return UniformDirty(cfg.n_pages, rate_pages)
    return WwsDirty(cfg.n_pages, rate_pages, cfg.wws_fraction, cfg.hot_rewrite_share,
                    np.random.default_rng(cfg.seed))
