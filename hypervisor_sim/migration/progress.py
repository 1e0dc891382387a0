"""What an operator sees between two rounds: Nova's byte fields, rates, "converging" and an ETA.

A percentage of memory sent runs backwards when a guest dirties pages faster than they leave (the
complaint of KubeVirt #10722), so there is none: `memory_processed_bytes` only grows, and the
outlook is a plain `converging` flag with an ETA that is None whenever the run is not converging,
plus a note that names the cause (dirty rate against bandwidth, a cap, the device state).

The outlook extrapolates the geometric series of the closed form (closed_form.py) from the last
measured dirty rate: lambda = D / R, n = the first round whose volume fits R x downtime limit.
It is an estimate for the writable-working-set model, recomputed after every round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import dataclass_dict

__all__ = ["MigrationProgress", "precopy_outlook"]


@dataclass(frozen=True)
class MigrationProgress:
    """A snapshot after a round, JSON-ready through `to_dict()` (Nova's field names for the bytes)."""

    phase: str  # "precopy" | "stop_and_copy" (the next round) | "completed" | "failed" | "cancelled"
    round: int  # rounds done so far
    memory_total_bytes: int
    memory_processed_bytes: int  # sent so far, all rounds; grows only (exceeds the total after round 0)
    memory_remaining_bytes: int  # dirty pages the next round must send; 0 once finished
    dirty_rate_mibps: float  # measured over the last pre-copy round (0 before the first)
    transfer_rate_mibps: float  # bandwidth of the last round (0 before the first)
    throttle_pct: float
    elapsed_s: float
    downtime_limit_ms: float
    downtime_ms: float  # the real pause once the stop-and-copy ran, else 0
    converging: bool
    eta_s: float | None  # seconds to completion at the assumed bandwidth; None when not converging
    stop_and_copy_downtime_ms: float | None  # what forcing a stop-and-copy now would cost; None once finished
    note: str  # why it is not converging (or how it ended), in words; "" when all is well

    def to_dict(self) -> dict:
        return dataclass_dict(self)


def precopy_outlook(
    *,
    pending_mib: float,
    bandwidth_mibps: float,
    dirty_rate_mibps: float,
    downtime_limit_ms: float,
    device_state_mib: float = 0.0,
    resume_ms: float = 0.0,
    rounds_left: int | None = None,
    data_left_mib: float | None = None,
    time_left_s: float | None = None,
    auto_converge: bool = False,
    throttle_pct: float = 0.0,
) -> tuple[bool, float | None, str]:
    """(converging, eta_s, note) for a pre-copy that still has `pending_mib` to send.

    Not converging when the dirty rate reaches the bandwidth, when the device state alone breaks
    the downtime limit, or when the rounds needed exceed a cap (rounds, data, time) still left.
    """
    if bandwidth_mibps <= 0:
        raise ValueError("bandwidth must be positive")
    d, r = dirty_rate_mibps, bandwidth_mibps
    fits_mib = r * downtime_limit_ms / 1000.0 - device_state_mib
    if fits_mib <= 0:
        return False, None, (f"not converging: the CPU/device state ({device_state_mib:g} MiB) alone takes longer "
                             f"than the {downtime_limit_ms:g} ms downtime limit at {r:.0f} MiB/s")
    if pending_mib <= fits_mib:
        return True, (pending_mib + device_state_mib) / r + resume_ms / 1000.0, ""
    lam = d / r
    if lam >= 1:
        remedy = (f"auto-converge is throttling the guest (now {throttle_pct:g} %)" if auto_converge
                  else "auto-converge is off")
        relation = "exceeds" if d > r else "equals"
        return False, None, f"not converging: dirty rate {d:.0f} MiB/s {relation} bandwidth {r:.0f} MiB/s; {remedy}"
    n = 1 if lam == 0 else max(1, math.ceil(math.log(fits_mib / pending_mib) / math.log(lam) - 1e-9))
    precopy_mib = pending_mib * (1 - lam**n) / (1 - lam)
    eta = (precopy_mib + pending_mib * lam**n + device_state_mib) / r + resume_ms / 1000.0
    rate = f"dirty rate {d:.0f} MiB/s is {100 * lam:.0f} % of bandwidth {r:.0f} MiB/s"
    if rounds_left is not None and n > rounds_left:
        return False, None, f"not converging in time: {rate}; about {n} more rounds needed, {rounds_left} left"
    before_last = pending_mib * (1 - lam ** (n - 1)) / (1 - lam)  # the data cap is checked after each round
    if data_left_mib is not None and before_last >= data_left_mib:
        return False, None, (f"not converging in time: {rate}; about {precopy_mib:.0f} MiB more to send, "
                             f"{max(0.0, data_left_mib):.0f} MiB left under the data cap")
    if time_left_s is not None and before_last / r >= time_left_s:
        return False, None, (f"not converging in time: {rate}; about {eta:.0f} s more needed, "
                             f"{max(0.0, time_left_s):.0f} s left before the completion timeout")
    return True, eta, ""
