"""Long operations on other rows than an instance: live migrations (maintenance and balancing come next)."""
from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.urls import NoReverseMatch, reverse

from ..choices import MIGRATION_ACTIVE, MigrationStatus
from .fleet import Host
from .ids import _migration_id
from .instances import Instance
from .stepped import Stepped


class Migration(Stepped):
    """One live migration of a running instance (Nova's record, plus what operators miss there).

    Byte fields keep Nova's names (`memory_total/processed/remaining_bytes`); `memory_processed_bytes`
    only grows. The simulator's run is kept as JSON between rounds (`sim_state`), so a task loads,
    runs one round and saves. `reason` says what a queued migration waits for, why one failed or was
    cancelled, or how it completed.
    """

    public_id = models.CharField("migration id", max_length=24, unique=True, default=_migration_id, editable=False)
    instance = models.ForeignKey(Instance, on_delete=models.PROTECT, related_name="migrations")
    source_host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="migrations_out")
    dest_host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="migrations_in")
    status = models.CharField(max_length=16, choices=MigrationStatus.choices, default=MigrationStatus.ACCEPTED)
    reason = models.TextField(blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    request_note = models.CharField(max_length=255, blank=True, help_text="why staff asked for it")
    destination_named = models.BooleanField(default=False, help_text="named by staff, not chosen by the scheduler")
    # Policy, fixed at the start.
    downtime_limit_ms = models.FloatField()
    auto_converge = models.BooleanField(default=False)
    completion_timeout_s = models.FloatField(default=0.0)
    progress_timeout_s = models.FloatField(default=0.0)
    # Progress after the last round (Nova's byte fields, then the rest).
    memory_total_bytes = models.BigIntegerField(default=0)
    memory_processed_bytes = models.BigIntegerField(default=0)
    memory_remaining_bytes = models.BigIntegerField(default=0)
    round = models.PositiveIntegerField(default=0)
    dirty_rate_mibps = models.FloatField(default=0.0)
    transfer_rate_mibps = models.FloatField(default=0.0)
    throttle_pct = models.FloatField(default=0.0)
    elapsed_s = models.FloatField(default=0.0, help_text="simulated seconds of copying so far")
    downtime_ms = models.FloatField(null=True, blank=True)
    predicted_downtime_ms = models.FloatField(null=True, blank=True, help_text="a stop-and-copy now would cost")
    eta_s = models.FloatField(null=True, blank=True, help_text="None while not converging")
    converging = models.BooleanField(default=True)
    note = models.TextField(blank=True, help_text="why it is not converging, in words")
    force_mode = models.CharField(max_length=16, blank=True, help_text="auto_converge | stop_and_copy once forced")
    next_bandwidth_mibps = models.FloatField(default=0.0, help_text="bandwidth the next round was planned at")
    best_remaining_bytes = models.BigIntegerField(null=True, blank=True)
    progress_at_s = models.FloatField(default=0.0, help_text="simulated time of the last progress")
    sim_state = models.JSONField(default=dict, blank=True)
    # Phase timestamps.
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    preparing_at = models.DateTimeField(null=True, blank=True)
    running_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "source_host"], name="migration_status_src_idx"),
            models.Index(fields=["status", "dest_host"], name="migration_status_dst_idx"),
        ]
        constraints = [
            # One migration at a time per instance (Nova refuses a second one too).
            models.UniqueConstraint(fields=["instance"], condition=Q(status__in=MIGRATION_ACTIVE),
                                    name="migration_one_active_per_instance"),
        ]

    def __str__(self) -> str:
        return self.public_id

    def get_absolute_url(self) -> str:
        try:
            return reverse("migration-detail", args=[self.public_id])
        except NoReverseMatch:  # no surface shows migrations yet
            return ""

    @property
    def is_final(self) -> bool:
        return self.status not in MIGRATION_ACTIVE


class MigrationRound(models.Model):
    """One pre-copy (or the stop-and-copy) round, as the simulator ran it."""

    migration = models.ForeignKey(Migration, on_delete=models.CASCADE, related_name="rounds")
    round = models.PositiveIntegerField()
    sent_mib = models.FloatField()
    dirty_mib = models.FloatField()
    dirty_rate_mibps = models.FloatField()
    remaining_mib = models.FloatField()
    transfer_rate_mibps = models.FloatField()
    duration_s = models.FloatField()
    throttle_pct = models.FloatField(default=0.0)
    stop_and_copy = models.BooleanField(default=False)
    aborted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["migration", "round"]
        constraints = [models.UniqueConstraint(fields=["migration", "round"], name="migration_round_unique")]

    def __str__(self) -> str:
        return f"{self.migration} round {self.round}"
