"""Skyport's simulated hypervisor: a pure, deterministic model of virtualization.

Hosts and guests (spec), CPU modes and their costs (cpu), memory virtualization (memory), devices
and the virtual switch (io), image copy/clone (images), boot plans (boot), pre-copy live migration
(migration), evacuation timing (evacuation) and balancing figures (balancing). Standard library and
numpy only: no Django, no wall clock, no global random state; every result is a function of the
inputs and a seed.
"""

from .balancing import FleetLoads, HostLoad, MoveEffect, imbalance, imbalance_priority, move_effect
from .boot import BootConfig, BootPlan, BootStage, plan_boot
from .cpu import (
    Compatibility,
    Contention,
    IncompatibleMode,
    check_compatibility,
    relative_performance,
    supported_modes,
    vcpu_contention,
)
from .evacuation import (
    EvacuationPlan,
    EvacuationTiming,
    FreeCapacity,
    GuestMove,
    PlannedMove,
    default_concurrency,
    plan_evacuation,
    time_evacuation,
)
from .images import ImageCopyPlan, plan_image_copy
from .io import AccessRule, RuleDecision, VirtualSwitch, device_performance, share_bandwidth
from .memory import GuestMemory, ReclamationPlan, page_walk_references, paging_cost, plan_reclamation
from .migration import (
    Fault,
    MigrationConfig,
    MigrationProgress,
    MigrationResult,
    MigrationRun,
    RoundRecord,
    precopy_closed_form,
    simulate_concurrent,
    simulate_migration,
    split_link,
)
from .spec import PROFILES, GuestSpec, HostSpec, VirtMode, WorkloadProfile, get_profile

__all__ = [
    "PROFILES",
    "AccessRule",
    "BootConfig",
    "BootPlan",
    "BootStage",
    "Compatibility",
    "Contention",
    "EvacuationPlan",
    "EvacuationTiming",
    "Fault",
    "FleetLoads",
    "FreeCapacity",
    "GuestMemory",
    "GuestMove",
    "GuestSpec",
    "HostLoad",
    "HostSpec",
    "ImageCopyPlan",
    "IncompatibleMode",
    "MigrationConfig",
    "MigrationProgress",
    "MigrationResult",
    "MigrationRun",
    "MoveEffect",
    "PlannedMove",
    "ReclamationPlan",
    "RoundRecord",
    "RuleDecision",
    "VirtMode",
    "VirtualSwitch",
    "WorkloadProfile",
    "check_compatibility",
    "default_concurrency",
    "device_performance",
    "get_profile",
    "imbalance",
    "imbalance_priority",
    "move_effect",
    "page_walk_references",
    "paging_cost",
    "plan_boot",
    "plan_evacuation",
    "plan_image_copy",
    "plan_reclamation",
    "precopy_closed_form",
    "relative_performance",
    "share_bandwidth",
    "simulate_concurrent",
    "simulate_migration",
    "split_link",
    "supported_modes",
    "time_evacuation",
    "vcpu_contention",
]
