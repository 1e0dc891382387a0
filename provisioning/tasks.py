"""Celery tasks: thin, idempotent, one step each. All logic lives in the pipeline and services.

Messages queued by releases before the generic engine (`advance(instance_id, seq)`) are not
honoured: a two-argument message fails its signature check and the reconciler re-sends the step.
"""
from __future__ import annotations

from celery import shared_task

from .pipeline import engine, reconciler


@shared_task(name="provisioning.advance", acks_late=True, ignore_result=True)
def advance(kind: str, object_id: int, seq: int) -> str:
    """Run step number `seq` of a stepped operation of `kind`; a duplicate delivery is a no-op."""
    return engine.step_advance(kind=kind, object_id=object_id, seq=seq)


@shared_task(name="provisioning.reconcile", ignore_result=True, expires=60)
def reconcile() -> dict:
    """Beat, every 15 s: re-drive overdue steps of every kind, fail them past the retry budget.

    `expires`: if no worker ran it for a minute, a newer run is on its way; skip this one.
    """
    return reconciler.reconcile().as_dict()


@shared_task(name="provisioning.balance", ignore_result=True, expires=60)
def balance() -> dict:
    """Beat, every SKYPORT_BALANCING interval, by the policy staff set (`BalancingPolicy`): automatic applies
    the balancing recommendations (each move a live migration on the step engine); manual only recommends."""
    from .services.balancing import balancing_tick

    return balancing_tick()
