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

With the `uniform` dirty model (dirty.py) and no device state the rounds follow the closed form of
Liu et al. (closed_form.py); tests/sim checks this to within 1 % over a property-based sweep.
"""

from __future__ import annotations

from .config import MigrationConfig, MigrationResult, RoundRecord
from .dirty import DirtyModel, make_dirty_model

__all__ = ["MigrationRun", "simulate_migration"]


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
