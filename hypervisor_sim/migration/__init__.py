"""Pre-copy live migration: config and records, dirty-page models, the round-by-round engine, shared links
and the closed form. `import hypervisor_sim.migration` keeps every name the single module had.

config.py       MigrationConfig, Fault, RoundRecord, MigrationResult (JSON round trips)
dirty.py        the uniform and writable-working-set dirty models
engine.py       MigrationRun (one round per step, for one Celery task per round; JSON state between rounds;
                operator actions) and simulate_migration
progress.py     MigrationProgress (Nova's byte fields, converging, ETA) and the pre-copy outlook
shared_link.py  split_link, simulate_concurrent (one link), simulate_shared (links with admission slots)
closed_form.py  Liu et al.'s closed form, for checks and what-if tables
"""

from .closed_form import ClosedForm, precopy_closed_form
from .config import DIRTY_MODELS, FAULT_KINDS, MIB, Fault, MigrationConfig, MigrationResult, RoundRecord
from .dirty import DirtyModel, UniformDirty, WwsDirty, bernoulli_positions, make_dirty_model
from .engine import STATE_VERSION, MigrationRun, simulate_migration
from .progress import MigrationProgress, precopy_outlook
from .shared_link import fair_shares, simulate_concurrent, simulate_shared, split_link

__all__ = [
    "DIRTY_MODELS",
    "FAULT_KINDS",
    "MIB",
    "STATE_VERSION",
    "ClosedForm",
    "DirtyModel",
    "Fault",
    "MigrationConfig",
    "MigrationProgress",
    "MigrationResult",
    "MigrationRun",
    "RoundRecord",
    "UniformDirty",
    "WwsDirty",
    "bernoulli_positions",
    "fair_shares",
    "make_dirty_model",
    "precopy_closed_form",
    "precopy_outlook",
    "simulate_concurrent",
    "simulate_migration",
    "simulate_shared",
    "split_link",
]
