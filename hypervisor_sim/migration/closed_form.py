"""Closed form of pre-copy with a uniform dirty rate (Liu et al., HPDC 2011), for checks and what-if tables.

For lambda = D / R < 1: V_i = M * lambda^i, n = the first i with V_i <= R * downtime_limit (sent as
stop-and-copy), V_tot = M * (1 - lambda^(n+1)) / (1 - lambda), downtime = V_n / R + resume.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ClosedForm", "precopy_closed_form"]


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
