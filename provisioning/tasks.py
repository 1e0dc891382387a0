"""Celery tasks: thin, idempotent, one step each. All logic lives in services."""
from __future__ import annotations

from celery import shared_task

from .services import pipeline, reconciler


@shared_task(name="provisioning.advance", acks_late=True, ignore_result=True)
def advance(instance_id: int, seq: int) -> str:
    """Run pipeline step number `seq` of an instance; a duplicate delivery is a no-op."""
    return pipeline.pipeline_advance(instance_id=instance_id, seq=seq)


@shared_task(name="provisioning.reconcile", ignore_result=True, expires=60)
def reconcile() -> dict:
    """Beat, every 15 s: re-drive overdue pipeline steps, fail them past the retry budget.

    `expires`: if no worker ran it for a minute, a newer run is on its way; skip this one.
    """
    return reconciler.reconcile().as_dict()
