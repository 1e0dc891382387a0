"""API credentials: access keys for the EC2 Query API (SigV4)."""
from __future__ import annotations

from django.conf import settings
from django.db import models

from .ids import _access_key_id


class AccessKey(models.Model):
    """An access key pair for SigV4 requests. SigV4 verification recomputes the signature, so the
    secret itself is needed: it is kept sealed (`provisioning.crypto.seal`), shown once at creation."""

    access_key_id = models.CharField(max_length=20, unique=True, default=_access_key_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_keys")
    description = models.CharField(max_length=255, blank=True)
    read_only = models.BooleanField(default=False, help_text="may only call Describe*/Get* actions")
    secret_sealed = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.access_key_id

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
