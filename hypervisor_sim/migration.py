"""Pre-copy live migration (Clark et al., NSDI 2005), round by round.

Round 0 sends every page while the guest runs; round i > 0 sends the pages dirtied during round
i - 1. Before each round the engine asks whether that round's volume (plus CPU/device state) fits
in the downtime limit at the current bandwidth; if so, that round is the stop-and-copy round: the
guest is paused, the rest is sent, and the destination resumes it (downtime = its duration plus
`resume_ms`). Otherwise pre-copy goes on, until a round cap or a total-data cap ends it: by
default the migration is then abandoned (outcome "failed", guest stays on the source), or with
`on_cap="force"` the engine stops and copies anyway, as Xen did, with a downtime over the limit.
Auto-converge (QEMU) throttles the guest's vCPUs when a round dirties more than half of what it
sent, on every second such round: 20 % first, +10 % per step, 99 % at most; with it on, only the
round cap applies (QEMU has no data cap: throttling is its remedy).

Dirty-page models
-----------------
`uniform` -- the closed-form model of Liu et al. (HPDC 2011). The guest dirties *distinct* pages
at a constant rate D (MiB/s; p = D / page size pages per second, reduced by the throttle). Page
identities do not matter, so the model keeps an exact integer count: a round of duration T
dirties round(p * T) pages, capped at the guest's page count N (a page dirtied twice is one
page). With V_0 = M and T_i = V_i / R this gives V_{i+1} = min(M, D * T_i) = M * (D/R)^(i+1) up to
the rounding of one page per round, so for lambda = D / R < 1:

    V_i = M * lambda^i,  n = the first i with V_i <= R * downtime_limit  (sent as stop-and-copy),
    V_tot = sum_{i=0..n} V_i = M * (1 - lambda^(n+1)) / (1 - lambda),
    downtime = V_n / R + resume,  total time = V_tot / R + resume

with device state 0 (it is added to the stop-and-copy round otherwise). tests/sim checks this to
within 1 % over a property-based sweep.

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
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

from .io import share_bandwidth

__all__ = [
    "DIRTY_MODELS",
    "ClosedForm",
    "DirtyModel",
    "Fault",
    "MigrationConfig",
    "MigrationResult",
    "MigrationRun",
    "RoundRecord",
    "UniformDirty",
    "WwsDirty",
    "bernoulli_positions",
    "precopy_closed_form",
    "simulate_concurrent",
    "simulate_migration",
    "split_link",
]

MIB = 1 << 20
DIRTY_MODELS = ("uniform", "wws")
FAULT_KINDS = ("destination_failure", "link_failure")


@dataclass(frozen=True)
class Fault:
    """A failure injected into a migration: during round `at_round` (halfway through it) or at
    simulated time `at_s`. Either way the guest keeps running on the source."""

    kind: str
    at_round: int | None = None
    at_s: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}")
        if (self.at_round is None) == (self.at_s is None):
            raise ValueError("give exactly one of at_round or at_s")
        if (self.at_round is not None and self.at_round < 0) or (self.at_s is not None and self.at_s < 0):
            raise ValueError("fault time must not be negative")


@dataclass(frozen=True)
class MigrationConfig:
    """Everything a migration depends on; the same config (and seed) gives the same result."""

    memory_mib: int
    bandwidth_mibps: float
    dirty_rate_mibps: float
    dirty_model: str = "uniform"
    downtime_limit_ms: float = 300.0
    max_rounds: int = 30
    max_total_factor: float = 3.0
    auto_converge: bool = False
    resume_ms: float = 0.0
    page_size: int = 4096
    wws_fraction: float = 0.1
    hot_rewrite_share: float = 0.9
    seed: int = 0
    fault: Fault | None = None
    cpu_device_state_mib: float = 0.0
    on_cap: str = "abort"  # "abort": fail and stay on the source; "force": stop-and-copy anyway
    throttle_initial_pct: float = 20.0
    throttle_increment_pct: float = 10.0
    throttle_max_pct: float = 99.0
    throttle_trigger: float = 0.5  # a round is "high" when it dirties more than this share of what it sent

    def __post_init__(self) -> None:
        if self.memory_mib <= 0:
            raise ValueError("memory_mib must be positive")
        if self.bandwidth_mibps <= 0:
            raise ValueError("bandwidth_mibps must be positive")
        if self.dirty_rate_mibps < 0:
            raise ValueError("dirty_rate_mibps must not be negative")
        if self.dirty_model not in DIRTY_MODELS:
            raise ValueError(f"dirty_model must be one of {', '.join(DIRTY_MODELS)}, not {self.dirty_model!r}")
        if self.downtime_limit_ms <= 0:
            raise ValueError("downtime_limit_ms must be positive")
        if self.max_rounds < 1 or self.max_total_factor < 1:
            raise ValueError("max_rounds must be >= 1 and max_total_factor >= 1")
        if self.resume_ms < 0 or self.cpu_device_state_mib < 0:
            raise ValueError("resume_ms and cpu_device_state_mib must not be negative")
        if self.page_size <= 0 or self.page_size & (self.page_size - 1):
            raise ValueError("page_size must be a positive power of two")
        if self.memory_mib * MIB < self.page_size:
            raise ValueError("memory must hold at least one page")
        if not 0 < self.wws_fraction <= 1 or not 0 <= self.hot_rewrite_share <= 1:
            raise ValueError("wws_fraction must be in (0, 1] and hot_rewrite_share in [0, 1]")
        if self.on_cap not in ("abort", "force"):
            raise ValueError("on_cap must be 'abort' or 'force'")
        if not 0 < self.throttle_initial_pct <= self.throttle_max_pct < 100 or self.throttle_increment_pct <= 0:
            raise ValueError("throttle steps must satisfy 0 < initial <= max < 100 and increment > 0")

    @property
    def n_pages(self) -> int:
        return int(self.memory_mib * MIB // self.page_size)

    def to_dict(self) -> dict:
        """JSON-ready form (Celery passes configs between tasks as JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MigrationConfig:
        data = dict(data)
        if data.get("fault") is not None:
            data["fault"] = Fault(**data["fault"])
        return cls(**data)

    @property
    def page_mib(self) -> float:
        return self.page_size / MIB


@dataclass(frozen=True)
class RoundRecord:
    """One round: what was sent, how long it took, and what the guest dirtied meanwhile."""

    round: int
    sent_pages: int
    sent_mib: float
    duration_s: float
    dirty_pages: int
    dirty_mib: float
    dirty_rate_mibps: float
    remaining_mib: float
    throttle_pct: float
    start_s: float = 0.0
    bandwidth_mibps: float = 0.0
    stop_and_copy: bool = False
    aborted: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MigrationResult:
    """Outcome of a migration; `guest_location` says where the guest runs afterwards."""

    rounds: tuple[RoundRecord, ...]
    total_s: float
    total_mib: float
    downtime_ms: float
    outcome: str  # "completed" | "failed"
    reason: str
    converged_by: str | None  # "threshold" | "round_cap" | "data_cap" | "auto_converge" | None
    throttle_history: tuple[tuple[int, float], ...]  # (round after which it was set, throttle %)
    guest_location: str  # "destination" | "source"
    fault_triggered: bool = False
    config: MigrationConfig | None = None

    @property
    def completed(self) -> bool:
        return self.outcome == "completed"

    @property
    def precopy_rounds(self) -> int:
        return sum(1 for r in self.rounds if not r.stop_and_copy)

    def to_dict(self) -> dict:
        """JSON-ready dict (the CLI's --json and the portal's event log)."""
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "converged_by": self.converged_by,
            "guest_location": self.guest_location,
            "downtime_ms": self.downtime_ms,
            "total_mib": self.total_mib,
            "total_s": self.total_s,
            "fault_triggered": self.fault_triggered,
            "throttle_history": [list(t) for t in self.throttle_history],
            "rounds": [r.to_dict() for r in self.rounds],
            "config": None if self.config is None else self.config.to_dict(),
        }


# --------------------------------------------------------------------------------------------
# Dirty-page models
# --------------------------------------------------------------------------------------------


class DirtyModel(Protocol):
    """Counts the distinct pages a guest dirties during `duration_s` at throttle `throttle`."""

    def dirty(self, duration_s: float, throttle: float) -> int: ...


class UniformDirty:
    """Distinct pages at a constant rate, capped at the guest's pages (see module docstring)."""

    def __init__(self, n_pages: int, rate_pages_per_s: float) -> None:
        self.n_pages = n_pages
        self.rate = rate_pages_per_s

    def dirty(self, duration_s: float, throttle: float) -> int:
        return min(self.n_pages, int(round(self.rate * (1.0 - throttle) * duration_s)))


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


# --------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------


class MigrationRun:
    """A migration driven one round per `step()`, so a Celery task can run one round per task.

    `simulate_migration` just loops it. Stepping a finished run raises (SimPy habit: an event is
    never triggered twice).
    """

    def __init__(self, cfg: MigrationConfig, *, dirty_model: DirtyModel | None = None) -> None:
        self.cfg = cfg
        self.model = dirty_model if dirty_model is not None else make_dirty_model(cfg)
        self._pending_pages = cfg.n_pages  # round 0 sends everything
        self._round = 0
        self._elapsed = 0.0
        self._sent_pages = 0
        self._throttle_pct = 0.0
        self._high_rounds = 0
        self._phase = "precopy"
        self._rounds: list[RoundRecord] = []
        self._throttle_history: list[tuple[int, float]] = []
        self._converged_by: str | None = None
        self._outcome: str | None = None
        self._reason = ""
        self._downtime_ms = 0.0
        self._fault_triggered = False
        self._pending_cap: str | None = None
        # The closed form stops at the first round (round 0 included) whose volume fits.
        self._decide_next(cfg.bandwidth_mibps, first=True)

    @classmethod
    def replay(cls, cfg: MigrationConfig, steps: int | list[float | None]) -> MigrationRun:
        """Rebuild a run after `steps` rounds (or one round per given bandwidth, None = config's).

        The engine is deterministic, so a Celery task needs to persist only the config and the
        bandwidths it used; replaying even a 64 GiB guest costs milliseconds. A redelivered task
        therefore recomputes exactly the same round.
        """
        run = cls(cfg)
        bandwidths = [None] * steps if isinstance(steps, int) else list(steps)
        for bw in bandwidths:
            if run.done:
                raise ValueError(f"the migration finished after {len(run._rounds)} rounds; cannot replay more")
            run.step(bw)
        return run

    # -- public state ------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._outcome is not None

    @property
    def elapsed_s(self) -> float:
        return self._elapsed

    @property
    def in_stop_and_copy(self) -> bool:
        return self._phase == "stop_and_copy"

    @property
    def rounds(self) -> tuple[RoundRecord, ...]:
        return tuple(self._rounds)

    def next_volume_mib(self) -> float:
        """MiB the next round will send (the stop-and-copy round includes CPU/device state)."""
        mib = self._pending_pages * self.cfg.page_mib
        if self._phase == "stop_and_copy":
            mib += self.cfg.cpu_device_state_mib
        return mib

    def step(self, bandwidth_mibps: float | None = None) -> RoundRecord:
        """Run one round at a constant bandwidth (default: the config's) and record it."""
        bw = self.cfg.bandwidth_mibps if bandwidth_mibps is None else bandwidth_mibps
        if bw <= 0:
            raise ValueError("bandwidth must be positive")
        return self.complete_round(self.next_volume_mib() / bw, bw)

    def result(self) -> MigrationResult:
        if not self.done:
            raise RuntimeError("migration still running; call step() until done")
        total_mib = sum(r.sent_mib for r in self._rounds)
        return MigrationResult(
            rounds=tuple(self._rounds),
            total_s=self._elapsed,
            total_mib=total_mib,
            downtime_ms=self._downtime_ms,
            outcome=self._outcome or "failed",
            reason=self._reason,
            converged_by=self._converged_by,
            throttle_history=tuple(self._throttle_history),
            guest_location="destination" if self._outcome == "completed" else "source",
            fault_triggered=self._fault_triggered,
            config=self.cfg,
        )

    # -- engine ------------------------------------------------------------------------------
    def complete_round(self, duration_s: float, bandwidth_mibps: float) -> RoundRecord:
        """Finish the current round after `duration_s` at mean `bandwidth_mibps`.

        Used directly by simulate_concurrent, where a shared link sets the duration.
        """
        if self.done:
            raise RuntimeError("migration already finished")
        cfg = self.cfg
        start = self._elapsed
        volume_mib = self.next_volume_mib()
        pages = self._pending_pages
        stop = self._phase == "stop_and_copy"

        fault_at = self._fault_time(start, duration_s)
        if fault_at is not None:
            return self._abort(start, fault_at - start, duration_s, pages, volume_mib, bandwidth_mibps, stop)

        self._elapsed = start + duration_s
        self._sent_pages += pages
        throttle = self._throttle_pct / 100.0
        dirty = 0 if stop else self.model.dirty(duration_s, throttle)
        dirty_mib = dirty * cfg.page_mib
        rec = RoundRecord(
            round=self._round, sent_pages=pages, sent_mib=volume_mib, duration_s=duration_s,
            dirty_pages=dirty, dirty_mib=dirty_mib,
            dirty_rate_mibps=dirty_mib / duration_s if duration_s > 0 else 0.0,
            remaining_mib=dirty_mib, throttle_pct=self._throttle_pct, start_s=start,
            bandwidth_mibps=bandwidth_mibps, stop_and_copy=stop,
        )
        self._rounds.append(rec)
        self._round += 1
        if stop:
            self._downtime_ms = duration_s * 1000.0 + cfg.resume_ms
            self._elapsed += cfg.resume_ms / 1000.0
            self._finish_completed()
            return rec

        self._pending_pages = dirty
        if cfg.auto_converge:
            self._maybe_throttle(rec)
        self._decide_next(bandwidth_mibps)
        return rec

    def _decide_next(self, bandwidth_mibps: float, first: bool = False) -> None:
        cfg = self.cfg
        fits = (self.next_volume_mib() + cfg.cpu_device_state_mib) <= bandwidth_mibps * cfg.downtime_limit_ms / 1000.0
        if fits:
            self._phase = "stop_and_copy"
            self._converged_by = "auto_converge" if self._throttle_pct > 0 else "threshold"
            return
        if first:
            return
        cap = None
        if self._round >= cfg.max_rounds:
            cap = "round_cap"
        elif not cfg.auto_converge and self._sent_pages * cfg.page_mib >= cfg.max_total_factor * cfg.memory_mib:
            # With auto-converge on there is no data cap (as in QEMU): throttling is the remedy for
            # a runaway pre-copy and the round cap remains the backstop.
            cap = "data_cap"
        if cap is None:
            return
        self._converged_by = cap
        if cfg.on_cap == "force":
            self._phase = "stop_and_copy"
            self._pending_cap = cap
        else:
            self._outcome = "failed"
            self._reason = self._non_convergence_reason(cap)

    def _maybe_throttle(self, rec: RoundRecord) -> None:
        cfg = self.cfg
        if rec.dirty_mib <= cfg.throttle_trigger * rec.sent_mib:
            return
        self._high_rounds += 1
        if self._high_rounds < 2:
            return
        self._high_rounds = 0
        if self._throttle_pct == 0:
            new = cfg.throttle_initial_pct
        else:
            new = min(cfg.throttle_max_pct, self._throttle_pct + cfg.throttle_increment_pct)
        if new != self._throttle_pct:
            self._throttle_pct = new
            self._throttle_history.append((rec.round, new))

    def _cap_words(self, cap: str) -> str:
        cfg = self.cfg
        if cap == "round_cap":
            return f"the round cap ({cfg.max_rounds} rounds)"
        sent = self._sent_pages * cfg.page_mib
        return f"the data cap ({cfg.max_total_factor:g} x memory = {cfg.max_total_factor * cfg.memory_mib:.0f} MiB; " \
               f"{sent:.0f} MiB sent)"

    def _non_convergence_reason(self, cap: str) -> str:
        cfg = self.cfg
        d = cfg.dirty_rate_mibps * (1 - self._throttle_pct / 100.0)
        r = cfg.bandwidth_mibps
        relation = "exceeds" if d >= r else f"is {100 * d / r:.0f} % of"
        if cfg.auto_converge:
            ac = f"auto-converge reached {self._throttle_pct:g} % throttle"
        else:
            ac = "auto-converge is off"
        return f"did not converge: dirty rate {d:g} MiB/s {relation} bandwidth {r:g} MiB/s and {ac}; " \
               f"stopped by {self._cap_words(cap)}; guest keeps running on the source"

    def _finish_completed(self) -> None:
        cfg = self.cfg
        self._outcome = "completed"
        n_pre = self._round - 1
        if self._pending_cap is not None:
            self._reason = (
                f"forced stop-and-copy at {self._cap_words(self._pending_cap)}: downtime "
                f"{self._downtime_ms:.0f} ms exceeds the {cfg.downtime_limit_ms:g} ms limit"
            )
        elif self._converged_by == "auto_converge":
            self._reason = (f"converged after {n_pre} pre-copy rounds once auto-converge throttled the "
                            f"guest to {self._throttle_pct:g} %")
        else:
            self._reason = (f"converged after {n_pre} pre-copy rounds: the last dirty set fit the "
                            f"{cfg.downtime_limit_ms:g} ms downtime limit")

    def _fault_time(self, start: float, duration: float) -> float | None:
        f = self.cfg.fault
        if f is None:
            return None
        if f.at_round is not None:
            return start + duration / 2.0 if f.at_round == self._round else None
        assert f.at_s is not None
        if start <= f.at_s < start + duration or (duration == 0 and f.at_s == start):
            return f.at_s
        return None

    def _abort(self, start: float, partial_s: float, duration_s: float, pages: int, volume_mib: float,
               bw: float, stop: bool) -> RoundRecord:
        cfg = self.cfg
        frac = partial_s / duration_s if duration_s > 0 else 0.0
        sent_pages = int(pages * frac)
        rec = RoundRecord(
            round=self._round, sent_pages=sent_pages, sent_mib=volume_mib * frac, duration_s=partial_s,
            dirty_pages=0, dirty_mib=0.0, dirty_rate_mibps=0.0, remaining_mib=0.0,
            throttle_pct=self._throttle_pct, start_s=start, bandwidth_mibps=bw, stop_and_copy=stop,
            aborted=True,
        )
        self._rounds.append(rec)
        self._round += 1
        self._elapsed = start + partial_s
        self._fault_triggered = True
        self._outcome = "failed"
        self._converged_by = None
        what = "destination host failed" if cfg.fault and cfg.fault.kind == "destination_failure" \
            else "migration link failed"
        where = "during stop-and-copy" if stop else f"during round {rec.round}"
        if stop:
            # the paused guest is resumed where it still is: on the source
            self._downtime_ms = partial_s * 1000.0
            self._reason = (f"{what} {where} at {self._elapsed:.2f} s; guest resumed on the source after "
                            f"{self._downtime_ms:.0f} ms paused")
        else:
            self._reason = f"{what} {where} at {self._elapsed:.2f} s; migration aborted, guest keeps running " \
                           "on the source"
        return rec


def simulate_migration(cfg: MigrationConfig) -> MigrationResult:
    """Run a migration to its end (completed or failed) and return the full record."""
    run = MigrationRun(cfg)
    while not run.done:
        run.step()
    return run.result()


# --------------------------------------------------------------------------------------------
# Shared links
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Closed form (Liu et al. 2011), for checks and what-if tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClosedForm:
    volumes_mib: tuple[float, ...]
    n: int
    total_mib: float
    downtime_ms: float
    total_s: float


def precopy_closed_form(memory_mib: float, bandwidth_mibps: float, dirty_rate_mibps: float,
                        downtime_limit_ms: float, *, resume_ms: float = 0.0, max_rounds: int = 10_000) -> ClosedForm:
    """V_i = M (D/R)^i until the first V_n <= R x limit; V_tot = M (1 - l^(n+1)) / (1 - l)."""
    lam = dirty_rate_mibps / bandwidth_mibps
    if lam >= 1:
        raise ValueError("the closed form needs D < R")
    threshold = bandwidth_mibps * downtime_limit_ms / 1000.0
    volumes = [float(memory_mib)]
    while volumes[-1] > threshold and len(volumes) <= max_rounds:
        volumes.append(memory_mib * lam ** len(volumes))
    n = len(volumes) - 1
    total = memory_mib * (1 - lam ** (n + 1)) / (1 - lam) if lam > 0 else float(memory_mib)
    return ClosedForm(tuple(volumes), n, total, volumes[-1] / bandwidth_mibps * 1000 + resume_ms,
                      total / bandwidth_mibps + resume_ms / 1000)
