"""API tokens: issue, authenticate, list, revoke. Keys are random, stored as SHA-256, and expire
SKYPORT_API_TOKEN_TTL_HOURS after they were issued."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from .models import ApiToken

LAST_USED_RESOLUTION = timedelta(minutes=1)  # write last_used_at at most this often per token


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def token_issue(*, user, name: str = "") -> tuple[ApiToken, str]:
    """A new token for ``user``: (the row, the key). The key is not stored and cannot be shown again."""
    now = timezone.now()
    ApiToken.objects.filter(user=user, expires_at__lte=now).delete()  # tidy the owner's expired ones
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, key_hash=_hash(key), prefix=key[:8], name=name[:100],
        expires_at=now + timedelta(hours=settings.SKYPORT_API_TOKEN_TTL_HOURS))
    return token, key


def token_authenticate(key: str) -> ApiToken | None:
    """The live token for ``key`` (its user loaded), or None if unknown or expired."""
    try:
        token = ApiToken.objects.select_related("user").get(key_hash=_hash(key))
    except ApiToken.DoesNotExist:
        return None
    now = timezone.now()
    if token.expires_at <= now:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def token_list(*, user) -> QuerySet[ApiToken]:
    """The user's tokens that have not expired, newest first."""
    return ApiToken.objects.filter(user=user, expires_at__gt=timezone.now())


def token_revoke(*, user, public_id: str | None = None) -> int:
    """Delete one of the user's tokens (by id), or all of them; returns how many went."""
    tokens = ApiToken.objects.filter(user=user)
    if public_id is not None:
        tokens = tokens.filter(public_id=public_id)
    deleted, _ = tokens.delete()
    return deleted
