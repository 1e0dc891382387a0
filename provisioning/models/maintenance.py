"""Host maintenance as a stepped operation: one row per request to empty a host."""
from __future__ import annotations

from django.db import models
from django.db.models import Q

from ..choices import MAINTENANCE_ACTIVE, MaintenanceStatus
from .fleet import Host
from .ids import _maintenance_id
from .stepped import Stepped


class Maintenance(Stepped):
    """One maintenance of a host: the preflight it started from, what is left and why, its phases.

    While `entering`, the step engine runs its `evacuate` step until the host is empty (its running
    guests live-migrate, stopped ones are re-homed); `remaining` lists each guest still there with
    the reason, so "done" is never claimed early. At most one active maintenance per host.
    """

    public_id = models.CharField("maintenance id", max_length=24, unique=True, default=_maintenance_id,
                                 editable=False)
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="maintenances")
    status = models.CharField(max_length=16, choices=MaintenanceStatus.choices, default=MaintenanceStatus.ENTERING)
    requested_by = models.CharField(max_length=150, blank=True)
    request_note = models.CharField(max_length=255, blank=True, help_text="why staff asked for it")
    reason = models.TextField(blank=True, help_text="how it ended (cancelled by whom, why it failed)")
    preflight = models.JSONField(default=dict, blank=True, help_text="the dry run it was entered with")
    remaining = models.JSONField(default=list, blank=True, help_text="guests still on the host and why")
    note = models.TextField(blank=True, help_text="what is left, in words")
    guests_total = models.PositiveIntegerField(default=0)
    migrations_started = models.PositiveIntegerField(default=0)
    rehomed = models.PositiveIntegerField(default=0)
    hypervisor_before = models.CharField(max_length=20, blank=True)
    hypervisor_after = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    entered_at = models.DateTimeField(null=True, blank=True, help_text="when the host was empty")
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["host"], condition=Q(status__in=MAINTENANCE_ACTIVE),
                                    name="maintenance_one_active_per_host"),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def is_active(self) -> bool:
        return self.status in MAINTENANCE_ACTIVE
