"""What a migration depends on (MigrationConfig, Fault) and what it produces (RoundRecord, MigrationResult).

Plain frozen dataclasses with a JSON round trip: Celery passes configs between tasks as JSON, and the portal
stores results in its event log.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ..spec import GuestSpec, HostSpec

__all__ = ["DIRTY_MODELS", "FAULT_KINDS", "MIB", "Fault", "MigrationConfig", "MigrationResult", "RoundRecord"]

MIB = 1 << 20


def dataclass_dict(obj: Any) -> dict:
    """A dataclass of scalars (and nested such dataclasses) as a dict: what `dataclasses.asdict` gives
    for these, without its deep copy of every value (a live migration saves its run after each round)."""
    return {f.name: dataclass_dict(v) if hasattr(v := getattr(obj, f.name), "__dataclass_fields__") else v
            for f in fields(obj)}


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
    completion_timeout_s: float = 0.0  # a cap on simulated time like Nova's (800 s per GiB there); 0 = none

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
        if self.completion_timeout_s < 0:
            raise ValueError("completion_timeout_s must not be negative (0 means no timeout)")

    @classmethod
    def for_guest(cls, guest: GuestSpec, source: HostSpec, destination: HostSpec, **options: Any) -> MigrationConfig:
        """The migration of `guest` from `source` to `destination`: the slower NIC bounds the bandwidth, the
        guest's workload gives the dirty rate and working set (`wws` model). The evacuation timing and the
        portal's real migrations build their configs here, so a prediction and the run agree."""
        base = dict(memory_mib=guest.memory_mib, bandwidth_mibps=min(source.nic_mibps, destination.nic_mibps),
                    dirty_rate_mibps=guest.workload.dirty_rate_mibps, dirty_model="wws",
                    wws_fraction=guest.workload.wws_fraction)
        return cls(**(base | options))

    @property
    def n_pages(self) -> int:
        return int(self.memory_mib * MIB // self.page_size)

    def to_dict(self) -> dict:
        """JSON-ready form (Celery passes configs between tasks as JSON)."""
        return dataclass_dict(self)

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
        return dataclass_dict(self)


@dataclass(frozen=True)
class MigrationResult:
    """Outcome of a migration; `guest_location` says where the guest runs afterwards."""

    rounds: tuple[RoundRecord, ...]
    total_s: float
    total_mib: float
    downtime_ms: float
    outcome: str  # "completed" | "failed" | "cancelled" (MigrationRun.abort)
    reason: str
    # "threshold" | "auto_converge" | "forced" (operator) | "round_cap" | "data_cap" | "timeout" | None
    converged_by: str | None
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
