"""Self-healing: re-drive steps that did not advance in time, of every registered kind; give up
after a budget.

Every scheduled step carries `step_due_at` (its countdown plus a grace period). If that time has
passed and the step is still the current one, its message was lost: a worker died holding it, the
broker lost it (Redis restarted empty, a flush), or it never got published. The reconciler sends
the same step again with the same sequence number, so a late original and the copy cannot both
run it (the engine drops the stale one). Past `retry_budget` re-dispatches without progress the
operation ends through its kind's `on_fail` (an instance in `error` with its capacity released).

Safe to run anywhere, any number of times, concurrently with workers: each row is handled in its
own short transaction holding it (rows a worker holds right now are skipped).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from ..choices import LIVE_STATES, MIGRATION_ACTIVE, ClaimKind
from ..models import Claim, Instance, Migration
from ..services.claims import claim_release
from ..services.events import event_record
from . import engine
from .engine import StepKind

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


def stuck(kind: StepKind, *, now: datetime, limit: int = BATCH) -> list[int]:
    """Ids of `kind`'s rows whose current step is overdue (the `step_due_at` index), oldest first."""
    return list(kind.pending().filter(step_due_at__lt=now)
                .order_by("step_due_at", "pk").values_list("pk", flat=True)[:limit])


def _step_words(step: str) -> str:
    return step.replace("_", " ")


def reconcile_row(*, kind: StepKind, object_id: int, now: datetime, budget: int, report: ReconcileReport) -> str:
    """Re-drive or fail one overdue row of `kind`; returns "redriven", "failed" or "skipped"."""
    with transaction.atomic():
        row = (kind.locked(skip_locked=True).filter(pk=object_id, step_due_at__lt=now)
               .filter(step__in=list(kind.steps)).first())
        if row is None:  # advanced meanwhile, or a worker holds it right now
            return "skipped"
        step, seq, label = row.step, row.step_seq, kind.label(row)
        if row.step_attempts >= budget:
            reason = (f"The {_step_words(step)} step did not complete after {budget} re-dispatches "
                      f"(its worker or broker message was lost each time){kind.stuck_note}.")
            engine.step_fail(kind, row, reason)
            row.save()
            report.failed.append(label)
            log.warning("reconciler: %s %s failed in step %s after %s re-dispatches", kind.name, label, step, budget)
            return "failed"
        overdue = max(0.0, (now - row.step_due_at).total_seconds())
        row.step_attempts += 1
        row.step_due_at = now + timedelta(seconds=engine.step_grace_s(0.0))
        fields = ["step_attempts", "step_due_at"]
        if any(f.name == "updated_at" for f in row._meta.concrete_fields):
            fields.append("updated_at")
        row.save(update_fields=fields)
        if kind.on_redrive is not None:
            kind.on_redrive(row, f"The {_step_words(step)} step was {overdue:.0f} s overdue; re-dispatched it "
                                 f"(attempt {row.step_attempts} of {budget})",
                            {"step": step, "seq": seq, "attempt": row.step_attempts})
        name, pk = kind.name, row.pk
        # Looked up at commit time (not bound now) so tests can capture dispatch.
        transaction.on_commit(lambda: engine.step_publish(kind=name, object_id=pk, seq=seq, resend=True))
        report.redriven.append(label)
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


def release_stray_migration_claims(report: ReconcileReport) -> None:
    """Destination claims whose migration has ended (should never exist; heal and say so if they do)."""
    strays = (Claim.objects.filter(kind=ClaimKind.MIGRATION)
              .exclude(Exists(Migration.objects.filter(status__in=MIGRATION_ACTIVE, instance_id=OuterRef("instance_id"),
                                                       dest_host_id=OuterRef("host_id"))))
              .values_list("instance_id", flat=True)[:BATCH])
    for instance_id in strays:
        with transaction.atomic():
            inst = Instance.objects.select_for_update(of=("self",)).select_related("host", "owner").get(pk=instance_id)
            if Migration.objects.filter(status__in=MIGRATION_ACTIVE, instance_id=instance_id).exists():
                continue  # a migration started meanwhile (its claim is not a stray)
            if claim_release(instance=inst, kind=ClaimKind.MIGRATION):
                event_record(action="claim.orphan_released", instance=inst, level="warning",
                             message=f"Released a migration destination claim of {inst.public_id} left behind "
                                     "by a migration that had ended")
                report.orphan_claims_released.append(inst.public_id)


def reconcile(*, now: datetime | None = None, budget: int | None = None, limit: int = BATCH) -> ReconcileReport:
    """One pass over overdue steps of every kind and orphaned claims. `now` is explicit for tests."""
    now = now or timezone.now()
    budget = retry_budget() if budget is None else budget
    report = ReconcileReport(now=now)
    for kind in engine.kinds():
        for pk in stuck(kind, now=now, limit=limit):
            reconcile_row(kind=kind, object_id=pk, now=now, budget=budget, report=report)
    release_orphan_claims(report)
    release_stray_migration_claims(report)
    if report.redriven or report.failed or report.orphan_claims_released:
        log.info("reconciler: re-drove %d, failed %d, released %d orphan claims",
                 len(report.redriven), len(report.failed), len(report.orphan_claims_released))
    return report
