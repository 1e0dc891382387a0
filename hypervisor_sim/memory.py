"""Memory virtualization: address translation costs and overcommit reclamation.

Translation is guest virtual -> guest physical -> machine. Two ways to do the second step:

* shadow paging: the hypervisor keeps a shadow table (guest virtual -> machine) that the MMU
  walks directly (4 references per TLB miss for 4-level tables), but it must write-protect the
  guest's page tables and trap every guest page-table write and many guest page faults to keep
  the shadow in sync: cheap TLB misses, expensive faults.
* nested paging (Intel EPT / AMD NPT): the MMU walks both tables. Each of the n guest levels and
  the final guest-physical address must be translated through the m-level host table, so a miss
  costs (n + 1)(m + 1) - 1 references: 24 for 4-level tables (Bhargava et al., ASPLOS 2008).
  Guest faults and page-table writes need no exit: expensive TLB misses, cheap faults.

Reclamation follows ESX's order (Waldspurger, OSDI 2002; VMware "Understanding Memory Resource
Management in vSphere 5.0"): transparent page sharing, ballooning, compression, host swapping,
each cheaper than the next in performance penalty, so each is used only when the previous ones
cannot free enough.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "PAGING_COSTS",
    "RECLAIM_ORDER",
    "GuestMemory",
    "PagingCost",
    "ReclaimStep",
    "ReclamationPlan",
    "page_walk_references",
    "paging_cost",
    "plan_reclamation",
]


def page_walk_references(paging: str, guest_levels: int = 4, host_levels: int = 4) -> int:
    """Memory references for one TLB miss.

    native/shadow: the hardware walks one table of `guest_levels` levels.
    nested: (guest_levels + 1) * (host_levels + 1) - 1, i.e. 24 for 4 + 4 levels.
    """
    if guest_levels < 1 or host_levels < 1:
        raise ValueError("page table levels must be >= 1")
    if paging in ("native", "shadow", "direct"):
        return guest_levels
    if paging == "nested":
        return (guest_levels + 1) * (host_levels + 1) - 1
    raise ValueError(f"unknown paging scheme {paging!r}")


@dataclass(frozen=True)
class PagingCost:
    """Extra cost over native of one TLB miss and one guest page fault under a paging scheme."""

    paging: str
    walk_refs: int
    tlb_miss_extra_ns: float
    page_fault_extra_us: float
    rationale: str


# Nanoseconds per extra walk reference: most upper-level entries hit the page-walk caches, so an
# extra reference costs ~1 ns on average, not a DRAM access (Bhargava et al. 2008 measure
# nested-walk overheads of a few percent for SPEC-like code with walk caches).
NS_PER_EXTRA_WALK_REF = 1.0

PAGING_COSTS: dict[str, PagingCost] = {
    "native": PagingCost("native", 4, 0.0, 0.0, "bare metal or container: the host kernel's own tables"),
    "shadow": PagingCost(
        "shadow", 4, 0.0, 6.0,
        "hypervisor traps guest #PF and write-protected page-table updates to sync the shadow "
        "(~6 us: exit + shadow fix-up; Adams & Agesen, ASPLOS 2006, pgfault/ptemod rows)",
    ),
    "shadow_vtx": PagingCost(
        "shadow_vtx", 4, 0.0, 8.0,
        "first-generation VT-x without EPT: every fault and PTE write is a full VM exit, slower "
        "than BT's in-VMM handling (Adams & Agesen 2006)",
    ),
    "direct": PagingCost(
        "direct", 4, 0.0, 0.8,
        "Xen direct paging: guest tables are read-only, updates are validated mmu_update "
        "hypercalls, batched (Barham et al., SOSP 2003, section 3.3)",
    ),
    "nested": PagingCost(
        "nested", page_walk_references("nested"), (page_walk_references("nested") - 4) * NS_PER_EXTRA_WALK_REF,
        0.1, "EPT/NPT: no exit on guest faults; a TLB miss walks 24 references instead of 4",
    ),
    "softmmu": PagingCost(
        "softmmu", 4, 10.0, 10.0,
        "emulator's software MMU: every guest memory access goes through a software TLB",
    ),
}


def paging_cost(paging: str) -> PagingCost:
    """Look up the cost entry of a paging scheme."""
    try:
        return PAGING_COSTS[paging]
    except KeyError:
        raise ValueError(f"unknown paging scheme {paging!r}") from None


# --------------------------------------------------------------------------------------------
# Overcommit and reclamation
# --------------------------------------------------------------------------------------------

RECLAIM_ORDER = ("page_sharing", "ballooning", "compression", "host_swap")

# Penalty of touching one reclaimed 4 KiB page again, microseconds. Sharing: a copy-on-write
# break (page copy, ~2 us). Ballooning: the guest chose what to give up (free or clean cache
# pages); if it must page them back in from its own disk, ~100 us on SSD, weighted by the ~10 %
# chance that a ballooned page was in use. Compression: decompress ~2 KiB (~20 us). Host swap:
# a host-level disk read the guest did not choose (~5 ms, double-paging risk).
PENALTY_US = {"page_sharing": 2.0, "ballooning": 10.0, "compression": 20.0, "host_swap": 5000.0}

BALLOON_MAX_SHARE = 0.65  # ESX default: at most 65 % of a guest's memory can be ballooned
COMPRESSION_CACHE_SHARE = 0.10  # ESX Mem.MemZipMaxPct: compression cache <= 10 % of guest memory
COMPRESSION_RATIO = 0.5  # pages are kept only if they compress to <= 2 KiB


@dataclass(frozen=True)
class GuestMemory:
    """A guest's memory as the host's reclaimer sees it."""

    name: str
    configured_mib: int
    active_mib: int  # working set; the rest is idle and is what ballooning takes first
    appliance: str = ""  # guests of the same appliance share identical pages
    balloon_driver: bool = True
    shareable_fraction: float = 0.25  # share of memory identical across guests of one appliance
    zero_fraction: float = 0.05  # zero pages, shareable even within one guest

    def __post_init__(self) -> None:
        if not 0 <= self.active_mib <= self.configured_mib:
            raise ValueError("active_mib must be within [0, configured_mib]")


@dataclass(frozen=True)
class ReclaimStep:
    technique: str
    reclaimed_mib: float
    penalty_us_per_access: float


@dataclass(frozen=True)
class ReclamationPlan:
    """What each technique reclaims, in ESX order, and what is left uncovered."""

    demand_mib: float
    host_mib: float
    needed_mib: float
    steps: tuple[ReclaimStep, ...]
    shortfall_mib: float

    @property
    def techniques(self) -> tuple[str, ...]:
        return tuple(s.technique for s in self.steps if s.reclaimed_mib > 0)

    @property
    def weighted_penalty_us(self) -> float:
        """Mean penalty per access to a reclaimed page: a single figure for comparisons."""
        total = sum(s.reclaimed_mib for s in self.steps)
        if total <= 0:
            return 0.0
        return sum(s.reclaimed_mib * s.penalty_us_per_access for s in self.steps) / total


def plan_reclamation(host_memory_mib: float, guests: list[GuestMemory], *,
                     reserve_mib: float = 0.0) -> ReclamationPlan:
    """Reclaim overcommitted memory in ESX order; each technique only takes what is still needed."""
    demand = float(sum(g.configured_mib for g in guests))
    needed = max(0.0, demand + reserve_mib - host_memory_mib)
    remaining = needed

    # 1. transparent page sharing: zero pages everywhere, plus identical pages across guests of one
    # appliance (n guests keep one copy: n - 1 copies freed).
    by_appliance: dict[str, list[GuestMemory]] = {}
    for g in guests:
        by_appliance.setdefault(g.appliance or f"__{g.name}", []).append(g)
    sharing = sum(g.configured_mib * g.zero_fraction for g in guests)
    for group in by_appliance.values():
        if len(group) > 1:
            smallest = min(g.configured_mib * g.shareable_fraction for g in group)
            sharing += smallest * (len(group) - 1)
    # 2. ballooning: idle memory of guests with a balloon driver, bounded by the 65 % cap
    balloon = sum(min(g.configured_mib - g.active_mib, g.configured_mib * BALLOON_MAX_SHARE)
                  for g in guests if g.balloon_driver)
    # 3. compression: a bounded cache, each compressed page frees half a page
    compression = sum(g.configured_mib * COMPRESSION_CACHE_SHARE * COMPRESSION_RATIO for g in guests)
    capacities = {"page_sharing": sharing, "ballooning": balloon, "compression": compression,
                  "host_swap": float("inf")}

    steps = []
    for technique in RECLAIM_ORDER:
        take = min(remaining, capacities[technique])
        steps.append(ReclaimStep(technique, take, PENALTY_US[technique]))
        remaining -= take
    # host swap is bounded only by the guests' total memory
    swap_cap = demand - sum(s.reclaimed_mib for s in steps[:-1])
    shortfall = max(0.0, steps[-1].reclaimed_mib - swap_cap)
    if shortfall:
        steps[-1] = ReclaimStep("host_swap", swap_cap, PENALTY_US["host_swap"])
    return ReclamationPlan(demand, float(host_memory_mib), needed, tuple(steps), shortfall)
