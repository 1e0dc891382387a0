"""Self-healing: re-drive pipeline steps that did not advance in time, give up after a budget.

Every scheduled step carries `step_due_at` (its countdown plus a grace period). If that time has
passed and the step is still the current one, its message was lost: a worker died holding it, the
broker lost it (Redis restarted empty, a flush), or it never got published. The reconciler sends
the same step again with the same sequence number, so a late original and the copy cannot both
run it (the pipeline drops the stale one). Past `retry_budget` re-dispatches without progress the
instance ends in `error` with a reason and its capacity claim is released.

Safe to run anywhere, any number of times, concurrently with workers: each instance is handled in
its own short transaction holding its row (rows a worker holds right now are skipped).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..choices import LIVE_STATES
from ..models import Claim, Instance
from . import pipeline
from .claims import claim_release
from .events import event_record

log = logging.getLogger("skyport.reconciler")

RETRY_BUDGET = 5
BATCH = 500


@dataclass
class ReconcileReport:
    """What one pass did (public ids), for logs, the beat task's result and tests."""

    now: datetime
    redriven: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    orphan_claims_released: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"now": self.now.isoformat(), "redriven": self.redriven, "failed": self.failed,
                "orphan_claims_released": self.orphan_claims_released}


def retry_budget() -> int:
    return int(getattr(settings, "SKYPORT_RECONCILE_RETRY_BUDGET", RETRY_BUDGET))


def stuck_instances(*, now: datetime, limit: int = BATCH) -> list[int]:
    """Ids of instances whose current step is overdue (the `step_due_at` index), oldest first."""
    return list(Instance.objects.exclude(step="").filter(step_due_at__lt=now)
                .order_by("step_due_at", "pk").values_list("pk", flat=True)[:limit])


def _step_words(step: str) -> str:
    return step.replace("_", " ")


def reconcile_instance(*, instance_id: int, now: datetime, budget: int, report: ReconcileReport) -> str:
    """Re-drive or fail one overdue instance; returns "redriven", "failed" or "skipped"."""
    with transaction.atomic():
        inst = (
            Instance.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("host", "owner")
            .filter(pk=instance_id, step_due_at__lt=now).exclude(step="")
            .first()
        )
        if inst is None:  # advanced meanwhile, or a worker holds it right now
            return "skipped"
        step, seq = inst.step, inst.step_seq
        if inst.step_attempts >= budget:
            reason = (f"The {_step_words(step)} step did not complete after {budget} re-dispatches "
                      f"(its worker or broker message was lost each time); capacity released.")
            pipeline.instance_fail(inst, reason)
            inst.save()
            report.failed.append(inst.public_id)
            log.warning("reconciler: %s failed in step %s after %s re-dispatches", inst.public_id, step, budget)
            return "failed"
        overdue = max(0.0, (now - inst.step_due_at).total_seconds())
        inst.step_attempts += 1
        inst.step_due_at = now + timedelta(seconds=pipeline.STEP_GRACE_S)
        inst.save(update_fields=["step_attempts", "step_due_at", "updated_at"])
        event_record(action="instance.redrive", instance=inst, level="warning",
                     message=f"The {_step_words(step)} step was {overdue:.0f} s overdue; re-dispatched it "
                             f"(attempt {inst.step_attempts} of {budget})",
                     data={"step": step, "seq": seq, "attempt": inst.step_attempts})
        pk = inst.pk
        # Looked up at commit time (not bound now) so tests can capture dispatch.
        transaction.on_commit(lambda: pipeline.step_enqueue(instance_id=pk, seq=seq, countdown=0.0))
        report.redriven.append(inst.public_id)
        return "redriven"


def release_orphan_claims(report: ReconcileReport) -> None:
    """Claims whose instance is no longer live (should never exist; heal and say so if they do)."""
    for claim_id in Claim.objects.exclude(instance__state__in=LIVE_STATES).values_list("pk", flat=True)[:BATCH]:
        with transaction.atomic():
            claim = Claim.objects.select_related("instance").filter(pk=claim_id).first()
            if claim is None:
                continue
            inst = Instance.objects.select_for_update(of=("self",)).select_related("host", "owner") \
                .get(pk=claim.instance_id)
            if inst.state in LIVE_STATES:
                continue
            claim_release(instance=inst, kind=claim.kind)
            event_record(action="claim.orphan_released", instance=inst, level="warning",
                         message=f"Released a {claim.kind} claim left behind by {inst.state} instance "
                                 f"{inst.public_id} ({claim.vcpus} vCPU / {claim.memory_mib} MiB)")
            report.orphan_claims_released.append(inst.public_id)


def reconcile(*, now: datetime | None = None, budget: int | None = None, limit: int = BATCH) -> ReconcileReport:
    """One pass over overdue steps and orphaned claims. `now` is explicit for tests."""
    now = now or timezone.now()
    budget = retry_budget() if budget is None else budget
    report = ReconcileReport(now=now)
    for pk in stuck_instances(now=now, limit=limit):
        reconcile_instance(instance_id=pk, now=now, budget=budget, report=report)
    release_orphan_claims(report)
    if report.redriven or report.failed or report.orphan_claims_released:
        log.info("reconciler: re-drove %d, failed %d, released %d orphan claims",
                 len(report.redriven), len(report.failed), len(report.orphan_claims_released))
    return report
