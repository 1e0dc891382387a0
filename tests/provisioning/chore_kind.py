"""A second, trivial step kind, registered by tests only: a two-step "chore" on an instance row.

It shares the `Instance` table with the instance kind but has its own step table and its own
`on_fail` (which leaves the instance as it is). It adds no task and no reconciler code: the one
`provisioning.advance` task and the one reconciler drive it. Importing this module registers it;
the session's Celery worker imports it too (`--include`), as a real deployment imports its kinds.
"""
from __future__ import annotations

from django.db import transaction

from provisioning.models import Instance
from provisioning.pipeline.engine import StepKind, StepOutcome, register_kind, step_schedule
from provisioning.services.events import event_record

TICK_S = 2.0  # simulated seconds between the two steps


def chore_tick(inst: Instance) -> StepOutcome:
    event_record(action="chore.tick", instance=inst, message="chore: tick")
    return StepOutcome("chore_tock", TICK_S)


def chore_tock(inst: Instance) -> StepOutcome:
    event_record(action="chore.done", instance=inst, message="chore: tock, done")
    return StepOutcome(None)


def chore_fail(inst: Instance, reason: str) -> None:
    event_record(action="chore.failed", instance=inst, level="error", message=reason)


def _redrive(inst: Instance, message: str, data: dict) -> None:
    event_record(action="chore.redrive", instance=inst, level="warning", message=message, data=data)


CHORE_KIND = register_kind(StepKind(
    name="chore", model=Instance, steps={"chore_tick": chore_tick, "chore_tock": chore_tock},
    on_fail=chore_fail, on_redrive=_redrive, select_related=("host", "owner"),
    stuck_note="; the instance is left as it was",
))


def chore_start(inst: Instance) -> Instance:
    """Schedule the chore's first step on an idle instance (dispatched on commit)."""
    with transaction.atomic():
        row = Instance.objects.select_for_update().get(pk=inst.pk)
        step_schedule(row, "chore_tick")
        row.save()
    return row
