"""The abstract row of a stepped operation (launch, live migration, maintenance, balancing run)."""
from __future__ import annotations

from django.db import models


class Stepped(models.Model):
    """Bookkeeping that lets `provisioning.pipeline.engine` drive a row one step per Celery task.

    `step` is the step to run next ("" when nothing is pending); `step_seq` numbers each scheduled
    step, so a redelivered or stale message finds it moved on and does nothing; `step_due_at` is
    when the current step should have run (countdown plus a grace period; the reconciler's index);
    `step_attempts` counts the reconciler's re-dispatches without progress; `step_unsent_at` says
    when publishing the current step failed (the task queue did not answer), so the pages can say
    so until the step runs.
    """

    step = models.CharField(max_length=24, blank=True)
    step_seq = models.PositiveIntegerField(default=0)
    step_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    step_attempts = models.PositiveSmallIntegerField(default=0)
    step_unsent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
