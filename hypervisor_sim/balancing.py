"""Workload-balancing figures (DRS-like): how uneven the fleet is, and what one move would change.

The portal decides which moves to consider (its placement filters judge where a guest may go; its
policy picks guests, cooldowns and how many moves run at once); this module only computes figures.

A host's load is the larger of allocated memory / memory limit and allocated vCPUs / vCPU limit (the
dominant resource, as in dominant-resource fairness). The mean would call a host with all its memory
and none of its vCPUs taken "half loaded" although it can take no further guest; the larger share is
the one that stops placements. The fleet's imbalance is the population standard deviation of the
hosts' loads: vSphere DRS's "current host load standard deviation".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace

__all__ = ["FleetLoads", "HostLoad", "MoveEffect", "imbalance", "imbalance_priority", "move_effect"]


@dataclass(frozen=True)
class HostLoad:
    """What a host has allocated against its limits (vCPU limit = pCPUs x allocation ratio)."""

    name: str
    memory_mib: int
    memory_limit_mib: int
    vcpus: int
    vcpu_limit: int

    def __post_init__(self) -> None:
        if self.memory_limit_mib <= 0 or self.vcpu_limit <= 0:
            raise ValueError(f"{self.name}: memory and vCPU limits must be positive")
        if self.memory_mib < 0 or self.vcpus < 0:
            raise ValueError(f"{self.name}: allocated memory and vCPUs must not be negative")

    @property
    def load(self) -> float:
        """The larger of the memory and vCPU shares allocated (1.0 = full)."""
        return max(self.memory_mib / self.memory_limit_mib, self.vcpus / self.vcpu_limit)

    def plus(self, memory_mib: int, vcpus: int) -> HostLoad:
        return replace(self, memory_mib=self.memory_mib + memory_mib, vcpus=self.vcpus + vcpus)


def imbalance(hosts: Iterable[HostLoad]) -> float:
    """Population standard deviation of the hosts' loads (0 for fewer than two hosts)."""
    loads = [h.load for h in hosts]
    if len(loads) < 2:
        return 0.0
    mean = math.fsum(loads) / len(loads)
    return math.sqrt(math.fsum((x - mean) ** 2 for x in loads) / len(loads))


@dataclass(frozen=True)
class MoveEffect:
    """The figures a recommendation shows: imbalance and both hosts' loads, before and after."""

    imbalance_before: float
    imbalance_after: float
    source_load_before: float
    source_load_after: float
    destination_load_before: float
    destination_load_after: float

    @property
    def improvement(self) -> float:
        """How much the imbalance falls (negative: the move makes the fleet less even)."""
        return self.imbalance_before - self.imbalance_after

    @property
    def destination_above_source(self) -> bool:
        """True when the destination would end more loaded than the source it relieved (a ping-pong)."""
        return self.destination_load_after > self.source_load_after

    def to_dict(self) -> dict:
        return asdict(self) | {"improvement": self.improvement,
                               "destination_above_source": self.destination_above_source}


class FleetLoads:
    """One state of the fleet against which many proposed moves are weighed, each in O(1) instead of
    O(hosts): the loads' mean and sum of squared deviations are kept, and a move changes two loads.

    Moving the mean from m to m' adds n(m - m')^2 to the sum of squared deviations (the deviations from
    m sum to zero); the two hosts' old terms are then swapped for their new ones.
    """

    def __init__(self, hosts: Sequence[HostLoad]) -> None:
        self.by_name = {h.name: h for h in hosts}
        if len(self.by_name) != len(hosts):
            raise ValueError("host names must be unique")
        loads = [h.load for h in hosts]
        self.n = len(loads)
        self.mean = math.fsum(loads) / self.n if loads else 0.0
        self.squares = math.fsum((x - self.mean) ** 2 for x in loads)
        self.imbalance = imbalance(hosts)

    def move_effect(self, *, source: str, destination: str, memory_mib: int, vcpus: int) -> MoveEffect:
        """The effect of moving a guest of `memory_mib` / `vcpus` from `source` to `destination`."""
        for name in (source, destination):
            if name not in self.by_name:
                raise ValueError(f"unknown host {name!r}")
        if source == destination:
            raise ValueError("source and destination must differ")
        if memory_mib < 0 or vcpus < 0:
            raise ValueError("a guest's memory and vCPUs must not be negative")
        src, dst = self.by_name[source], self.by_name[destination]
        if memory_mib > src.memory_mib or vcpus > src.vcpus:
            raise ValueError(f"{source} has {src.memory_mib} MiB and {src.vcpus} vCPU allocated: it cannot hold a "
                             f"guest of {memory_mib} MiB and {vcpus} vCPU")
        s0, d0 = src.load, dst.load
        s1, d1 = src.plus(-memory_mib, -vcpus).load, dst.plus(memory_mib, vcpus).load
        mean = self.mean + (s1 - s0 + d1 - d0) / self.n
        squares = (self.squares + self.n * (self.mean - mean) ** 2 - (s0 - mean) ** 2 - (d0 - mean) ** 2
                   + (s1 - mean) ** 2 + (d1 - mean) ** 2)
        return MoveEffect(
            imbalance_before=self.imbalance, imbalance_after=math.sqrt(max(0.0, squares) / self.n),
            source_load_before=s0, source_load_after=s1, destination_load_before=d0, destination_load_after=d1,
        )


def move_effect(hosts: Sequence[HostLoad], *, source: str, destination: str, memory_mib: int,
                vcpus: int) -> MoveEffect:
    """The effect of moving a guest of `memory_mib` / `vcpus` from `source` to `destination` (one move;
    weigh many against the same fleet with `FleetLoads`)."""
    return FleetLoads(hosts).move_effect(source=source, destination=destination, memory_mib=memory_mib,
                                         vcpus=vcpus)


def imbalance_priority(imbalance_value: float, n_hosts: int) -> int:
    """DRS's priority for a fleet this uneven, 1 (most urgent) to 5 (a slight gain).

    The formula VMware documented before vSphere 7 (KB "Calculating the priority level of a DRS
    recommendation", as quoted in research/operations.md): 6 - ceil(imbalance / 0.1 x sqrt(hosts)),
    clamped to 1..5. A recommendation is made at threshold level L when its priority is <= L.
    """
    if n_hosts < 1:
        raise ValueError("need at least one host")
    if imbalance_value < 0:
        raise ValueError("imbalance must not be negative")
    raw = 6 - math.ceil(round(imbalance_value / 0.1 * math.sqrt(n_hosts), 9))
    return min(5, max(1, raw))
