"""The audit log and idempotency records."""
from __future__ import annotations

from django.conf import settings
from django.db import models

from .fleet import Host
from .instances import Instance, Reservation


class Event(models.Model):
    """Audit trail: every transition and decision, read by the UI, the API and operators."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    instance = models.ForeignKey(Instance, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    host = models.ForeignKey(Host, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    actor = models.CharField(max_length=150, default="system")
    action = models.CharField(max_length=40)
    message = models.TextField()
    level = models.CharField(max_length=8, default="info")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action}: {self.message}"


class IdempotencyRecord(models.Model):
    """Remembers a create request by (owner, key) so a retry returns the original result."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    scope = models.CharField(max_length=40)
    request_hash = models.CharField(max_length=64)
    reservation = models.ForeignKey(Reservation, null=True, blank=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "scope", "key"], name="idempotency_unique_key")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"
