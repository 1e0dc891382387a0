"""Pre-copy live migration: config and records, dirty-page models, the round-by-round engine, shared links
and the closed form. `import hypervisor_sim.migration` keeps every name the single module had.

config.py       MigrationConfig, Fault, RoundRecord, MigrationResult (JSON round trips)
dirty.py        the uniform and writable-working-set dirty models
engine.py       MigrationRun (one round per step, for one Celery task per round) and simulate_migration
shared_link.py  split_link and simulate_concurrent (several migrations on one link)
closed_form.py  Liu et al.'s closed form, for checks and what-if tables
"""

from .closed_form import ClosedForm, precopy_closed_form
from .config import DIRTY_MODELS, FAULT_KINDS, MIB, Fault, MigrationConfig, MigrationResult, RoundRecord
from .dirty import DirtyModel, UniformDirty, WwsDirty, bernoulli_positions, make_dirty_model
from .engine import MigrationRun, simulate_migration
from .shared_link import simulate_concurrent, split_link

__all__ = [
    "DIRTY_MODELS",
    "FAULT_KINDS",
    "MIB",
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
    "make_dirty_model",
    "precopy_closed_form",
    "simulate_concurrent",
    "simulate_migration",
    "split_link",
]
