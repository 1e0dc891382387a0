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

Between rounds the caller (one Celery task per round) may change the bandwidth (a link shared by k
migrations: `split_link(link, k)`), read `progress()`, force completion (`force_converge()`,
`force_stop_and_copy()` after `predict_downtime_ms()`), or end the run (`abort()`, `fail()`). The
whole run, dirty model and random state included, round-trips through `to_state()` /
`from_state()` as plain JSON, so a task loads, steps once and saves, at a constant cost per round
(replaying from the start costs a whole migration's rounds again on every task: quadratic).
"""

from __future__ import annotations

from .config import MigrationConfig, MigrationResult, RoundRecord
from .dirty import DirtyModel, make_dirty_model
from .progress import MigrationProgress, precopy_outlook

__all__ = ["STATE_VERSION", "MigrationRun", "simulate_migration"]

STATE_VERSION = 1
# Everything a run is, besides its config, rounds, throttle history and dirty model: saved as is.
_SCALARS = ("round", "elapsed", "pending_pages", "sent_pages", "throttle_pct", "high_rounds", "phase",
            "auto_converge", "operator", "decided_bw", "pending_cap", "converged_by", "outcome", "reason",
            "downtime_ms", "fault_triggered")


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
        self._auto_converge = cfg.auto_converge  # the operator may switch it on mid-run
        self._operator: str | None = None  # "auto_converge" | "stop_and_copy" once the operator forced either
        self._decided_bw = cfg.bandwidth_mibps  # the bandwidth the next round's phase was decided at
        # The closed form stops at the first round (round 0 included) whose volume fits.
        self._decide_next(cfg.bandwidth_mibps, first=True)

    @classmethod
    def replay(cls, cfg: MigrationConfig, steps: int | list[float | None]) -> MigrationRun:
        """Rebuild a run after `steps` rounds (or one round per given bandwidth, None = config's).

        The engine is deterministic, so this recomputes exactly the same rounds: a check for
        `to_state()`, and enough for short runs. It cannot replay operator actions, and round k costs
        k rounds of work (a 30-round 64 GiB guest: ~2 s of CPU for the last one), so a per-round task
        should save `to_state()` instead.
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
        """Run one round at a constant bandwidth (default: the config's) and record it.

        A bandwidth other than the one the next round was planned at re-plans it first: a dirty set
        that fits the downtime limit at the new rate is sent as the stop-and-copy, one that no longer
        fits goes back to pre-copy (unless a cap or the operator forced the stop-and-copy).
        """
        bw = self.cfg.bandwidth_mibps if bandwidth_mibps is None else bandwidth_mibps
        if bw <= 0:
            raise ValueError("bandwidth must be positive")
        if self.done:
            raise RuntimeError("migration already finished")
        phase = self._replanned_phase(bw)
        if phase != self._phase:
            self._phase = phase
            self._converged_by = None if phase == "precopy" else \
                ("auto_converge" if self._throttle_pct > 0 else "threshold")
        self._decided_bw = bw
        return self.complete_round(self.next_volume_mib() / bw, bw)

    def next_round_s(self, bandwidth_mibps: float | None = None) -> float:
        """How long the next `step()` at this bandwidth will take, without taking it: a task can wait that
        long first and step at the end, so an abort during the round leaves nothing to undo."""
        bw = self.cfg.bandwidth_mibps if bandwidth_mibps is None else bandwidth_mibps
        if bw <= 0:
            raise ValueError("bandwidth must be positive")
        device = self.cfg.cpu_device_state_mib if self._replanned_phase(bw) == "stop_and_copy" else 0.0
        return (self._pending_pages * self.cfg.page_mib + device) / bw

    def _replanned_phase(self, bw: float) -> str:
        """The next round's phase at bandwidth `bw`: re-decided against the downtime limit when `bw` is not
        the bandwidth it was planned at, unless a cap or the operator forced the stop-and-copy."""
        if bw == self._decided_bw or self._pending_cap is not None or self._operator == "stop_and_copy":
            return self._phase
        return "stop_and_copy" if self._fits(bw) else "precopy"

    # -- between rounds: what the operator may see and do -------------------------------------
    def predict_downtime_ms(self, bandwidth_mibps: float | None = None) -> float:
        """The pause a stop-and-copy as the next round would cost: (dirty pages + CPU/device state) /
        bandwidth + resume. Exact for the next `step()` at that bandwidth (the default: the last round's)."""
        bw = self._decided_bw if bandwidth_mibps is None else bandwidth_mibps
        if bw <= 0:
            raise ValueError("bandwidth must be positive")
        mib = self._pending_pages * self.cfg.page_mib + self.cfg.cpu_device_state_mib
        return mib / bw * 1000.0 + self.cfg.resume_ms

    def force_stop_and_copy(self) -> float:
        """Operator's force-complete: the next round is the stop-and-copy, whatever the downtime limit.

        Returns the downtime it will cost (`predict_downtime_ms`); show it before calling this.
        """
        self._require_running("force a stop-and-copy")
        predicted = self.predict_downtime_ms()
        if self._phase != "stop_and_copy":
            self._phase = "stop_and_copy"
            self._operator = "stop_and_copy"
            self._converged_by = "forced"
        return predicted

    def force_converge(self) -> float:
        """Operator's "auto-converge now": throttle the guest from the next round (one throttle step now,
        QEMU's steps after it; the data cap no longer applies). Returns the throttle % now set."""
        self._require_running("start auto-converge")
        if self._phase == "stop_and_copy":
            return self._throttle_pct  # it switches over next round anyway
        self._auto_converge = True
        self._operator = self._operator or "auto_converge"
        self._high_rounds = 0
        self._raise_throttle(self._round - 1)
        return self._throttle_pct

    def abort(self, reason: str = "aborted by the operator") -> MigrationResult:
        """End the run as `cancelled` between rounds: nothing was paused, the guest stays on the source."""
        return self._end("cancelled", reason)

    def fail(self, reason: str) -> MigrationResult:
        """End the run as `failed` for a cause the caller found (a timeout it keeps, a host it lost)."""
        return self._end("failed", reason)

    def progress(self, bandwidth_mibps: float | None = None) -> MigrationProgress:
        """Bytes, rates, `converging` and an ETA after the last round (`bandwidth_mibps`: the next
        round's, if known; default the last round's)."""
        cfg = self.cfg
        bw = self._decided_bw if bandwidth_mibps is None else bandwidth_mibps
        last = self._rounds[-1] if self._rounds else None
        measured = next((r for r in reversed(self._rounds) if not r.stop_and_copy and not r.aborted), None)
        if measured is None or measured.dirty_pages >= cfg.n_pages:
            # before any round, or clipped: a round that dirtied every page says only "at least this fast"
            dirty_rate = cfg.dirty_rate_mibps * (1 - self._throttle_pct / 100.0)
        else:  # rescaled when the throttle changed since that round
            dirty_rate = measured.dirty_rate_mibps * (1 - self._throttle_pct / 100.0) / \
                (1 - measured.throttle_pct / 100.0)
        if self.done:
            converging, eta, note = self._outcome == "completed", (0.0 if self._outcome == "completed" else None), \
                self._reason
        elif self._phase == "stop_and_copy":
            converging, eta, note = True, self.predict_downtime_ms(bw) / 1000.0, ""
        else:
            sent_mib = self._sent_pages * cfg.page_mib
            converging, eta, note = precopy_outlook(
                pending_mib=self._pending_pages * cfg.page_mib, bandwidth_mibps=bw, dirty_rate_mibps=dirty_rate,
                downtime_limit_ms=cfg.downtime_limit_ms, device_state_mib=cfg.cpu_device_state_mib,
                resume_ms=cfg.resume_ms, rounds_left=cfg.max_rounds - self._round,
                data_left_mib=None if self._auto_converge else cfg.max_total_factor * cfg.memory_mib - sent_mib,
                time_left_s=cfg.completion_timeout_s - self._elapsed if cfg.completion_timeout_s else None,
                auto_converge=self._auto_converge, throttle_pct=self._throttle_pct,
            )
        return MigrationProgress(
            phase=self._outcome or self._phase, round=self._round,
            memory_total_bytes=cfg.n_pages * cfg.page_size,
            memory_processed_bytes=self._sent_pages * cfg.page_size,
            memory_remaining_bytes=0 if self.done else self._pending_pages * cfg.page_size,
            dirty_rate_mibps=0.0 if measured is None else measured.dirty_rate_mibps,
            transfer_rate_mibps=0.0 if last is None else last.bandwidth_mibps,
            throttle_pct=self._throttle_pct, elapsed_s=self._elapsed, downtime_limit_ms=cfg.downtime_limit_ms,
            downtime_ms=self._downtime_ms, converging=converging, eta_s=eta,
            stop_and_copy_downtime_ms=None if self.done else self.predict_downtime_ms(bw), note=note,
        )

    # -- persistence between Celery tasks ----------------------------------------------------
    def to_state(self) -> dict:
        """The whole run as plain JSON (config, counters, rounds, dirty model and its random state)."""
        get_state = getattr(self.model, "get_state", None)
        if get_state is None:
            raise TypeError("this dirty model cannot be saved; to_state() needs the built-in models")
        return {
            "v": STATE_VERSION, "config": self.cfg.to_dict(), "model": get_state(),
            **{name: getattr(self, f"_{name}") for name in _SCALARS},
            "throttle_history": [list(t) for t in self._throttle_history],
            "rounds": [r.to_dict() for r in self._rounds],
        }

    @classmethod
    def from_state(cls, state: dict) -> MigrationRun:
        """The run `to_state()` saved; stepping it gives exactly the rounds the saved run would have."""
        if state.get("v") != STATE_VERSION:
            raise ValueError(f"unknown migration state version {state.get('v')!r}; expected {STATE_VERSION}")
        run = cls(MigrationConfig.from_dict(state["config"]))
        run.model.set_state(state["model"])
        for name in _SCALARS:
            setattr(run, f"_{name}", state[name])
        run._throttle_history = [(int(r), float(p)) for r, p in state["throttle_history"]]
        run._rounds = [RoundRecord(**r) for r in state["rounds"]]
        return run

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
        if self._auto_converge:
            self._maybe_throttle(rec)
        self._decide_next(bandwidth_mibps)
        return rec

    def _fits(self, bandwidth_mibps: float) -> bool:
        cfg = self.cfg
        mib = self._pending_pages * cfg.page_mib + cfg.cpu_device_state_mib
        return mib <= bandwidth_mibps * cfg.downtime_limit_ms / 1000.0

    def _decide_next(self, bandwidth_mibps: float, first: bool = False) -> None:
        cfg = self.cfg
        self._decided_bw = bandwidth_mibps
        if self._fits(bandwidth_mibps):
            self._phase = "stop_and_copy"
            self._converged_by = "auto_converge" if self._throttle_pct > 0 else "threshold"
            return
        if first:
            return
        cap = None
        if self._round >= cfg.max_rounds:
            cap = "round_cap"
        elif not self._auto_converge and self._sent_pages * cfg.page_mib >= cfg.max_total_factor * cfg.memory_mib:
            # With auto-converge on there is no data cap (as in QEMU): throttling is the remedy for
            # a runaway pre-copy and the round cap remains the backstop.
            cap = "data_cap"
        elif cfg.completion_timeout_s and self._elapsed >= cfg.completion_timeout_s:
            cap = "timeout"
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
        self._raise_throttle(rec.round)

    def _raise_throttle(self, after_round: int) -> None:
        """One auto-converge step: the initial throttle, then + increment up to the maximum."""
        cfg = self.cfg
        if self._throttle_pct == 0:
            new = cfg.throttle_initial_pct
        else:
            new = min(cfg.throttle_max_pct, self._throttle_pct + cfg.throttle_increment_pct)
        if new != self._throttle_pct:
            self._throttle_pct = new
            self._throttle_history.append((after_round, new))

    def _require_running(self, what: str) -> None:
        if self.done:
            raise RuntimeError(f"cannot {what}: the migration has already ended ({self._outcome})")

    def _end(self, outcome: str, reason: str) -> MigrationResult:
        self._require_running("end it")
        self._outcome = outcome
        self._converged_by = None
        rounds = f"{self._round} round" + ("" if self._round == 1 else "s")
        self._reason = f"{reason} after {rounds}; guest keeps running on the source"
        return self.result()

    def _cap_words(self, cap: str) -> str:
        cfg = self.cfg
        if cap == "round_cap":
            return f"the round cap ({cfg.max_rounds} rounds)"
        if cap == "timeout":
            return f"the completion timeout ({cfg.completion_timeout_s:g} s; {self._elapsed:.1f} s elapsed)"
        sent = self._sent_pages * cfg.page_mib
        return f"the data cap ({cfg.max_total_factor:g} x memory = {cfg.max_total_factor * cfg.memory_mib:.0f} MiB; " \
               f"{sent:.0f} MiB sent)"

    def _non_convergence_reason(self, cap: str) -> str:
        cfg = self.cfg
        d = cfg.dirty_rate_mibps * (1 - self._throttle_pct / 100.0)
        r = self._decided_bw  # the bandwidth the last round actually had
        relation = "exceeds" if d >= r else f"is {100 * d / r:.0f} % of"
        if self._auto_converge:
            ac = f"auto-converge reached {self._throttle_pct:g} % throttle"
        else:
            ac = "auto-converge is off"
        return f"did not converge: dirty rate {d:g} MiB/s {relation} bandwidth {r:g} MiB/s and {ac}; " \
               f"stopped by {self._cap_words(cap)}; guest keeps running on the source"

    def _finish_completed(self) -> None:
        cfg = self.cfg
        self._outcome = "completed"
        n_pre = self._round - 1
        if self._operator == "stop_and_copy":
            over = "over" if self._downtime_ms > cfg.downtime_limit_ms else "within"
            self._reason = (f"stop-and-copy forced by the operator after {n_pre} pre-copy rounds: downtime "
                            f"{self._downtime_ms:.0f} ms, {over} the {cfg.downtime_limit_ms:g} ms limit")
        elif self._pending_cap is not None:
            self._reason = (
                f"forced stop-and-copy at {self._cap_words(self._pending_cap)}: downtime "
                f"{self._downtime_ms:.0f} ms exceeds the {cfg.downtime_limit_ms:g} ms limit"
            )
        elif self._converged_by == "auto_converge":
            who = " (started by the operator)" if self._operator == "auto_converge" else ""
            self._reason = (f"converged after {n_pre} pre-copy rounds once auto-converge{who} throttled the "
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
