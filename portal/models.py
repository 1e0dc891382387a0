"""The portal's own records: API tokens (the surfaces' credentials, not cloud resources)."""
from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models


def _token_id() -> str:
    return f"tok-{secrets.token_hex(9)[:17]}"


class ApiToken(models.Model):
    """A bearer token for the REST API. Only its SHA-256 is stored: the key is shown once, when issued."""

    public_id = models.CharField(max_length=32, unique=True, default=_token_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=8, editable=False, help_text="the key's first characters, to tell them apart")
    name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.public_id} ({self.prefix}…) of {self.user_id}"
