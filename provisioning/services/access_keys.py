"""Access keys for the EC2 Query API: created by their owner, the secret shown once, revocable.

SigV4 verification recomputes the request's signature, which needs the secret itself (a hash would
not do): it is kept sealed with the server key (`provisioning.crypto`) and unsealed per request.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..crypto import seal, unseal
from ..exceptions import InvalidRequest, NotFound
from ..models import AccessKey
from .events import actor_name, event_record

MAX_ACTIVE_KEYS = 10
SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# `last_used_at` is written at most this often (a write per request would cost every request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class CreatedAccessKey:
    access_key: AccessKey
    secret_access_key: str  # shown to the owner exactly once


def access_key_list(*, user) -> QuerySet[AccessKey]:
    return AccessKey.objects.filter(owner=user)


def access_key_create(*, user, description: str = "", read_only: bool = False) -> CreatedAccessKey:
    """A new key pair for SigV4 requests; the secret is returned here and never again."""
    description = (description or "").strip()
    if len(description) > 255:
        raise InvalidRequest({"description": "Use at most 255 characters."})
    with transaction.atomic():
        active = access_key_list(user=user).select_for_update().filter(revoked_at__isnull=True).count()
        if active >= MAX_ACTIVE_KEYS:
            raise InvalidRequest({"access_key": f"You already have {active} active access keys (the limit is "
                                                f"{MAX_ACTIVE_KEYS}); revoke one you no longer use first."})
        secret = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(40))
        key = AccessKey.objects.create(owner=user, description=description, read_only=bool(read_only),
                                       secret_sealed=seal(secret))
        event_record(action="access_key.create", owner=user, actor=actor_name(user),
                     message=f"Access key {key.access_key_id} created" + (" (read-only)" if read_only else ""))
    return CreatedAccessKey(key, secret)


def access_key_get(*, user, ref: str) -> AccessKey:
    key = access_key_list(user=user).filter(access_key_id=str(ref).strip()).first()
    if key is None:
        raise NotFound(f"Access key '{ref}' does not exist.")
    return key


def access_key_revoke(*, user, ref: str) -> AccessKey:
    """Revoke a key at once (its requests fail from now on); the record stays for the audit log."""
    with transaction.atomic():
        key = access_key_list(user=user).select_for_update().filter(access_key_id=str(ref).strip()).first()
        if key is None:
            raise NotFound(f"Access key '{ref}' does not exist.")
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.secret_sealed = ""  # nothing left to verify with
            key.save(update_fields=["revoked_at", "secret_sealed"])
            event_record(action="access_key.revoke", owner=user, actor=actor_name(user),
                         message=f"Access key {key.access_key_id} revoked")
    return key


def access_key_credentials(access_key_id: str) -> tuple[AccessKey, str] | None:
    """The active key with this id and its secret, or None (unknown, revoked, unreadable)."""
    try:  # the unique id: no ORDER BY (this runs on every EC2 request)
        key = AccessKey.objects.select_related("owner").get(access_key_id=access_key_id, revoked_at__isnull=True)
    except AccessKey.DoesNotExist:
        return None
    if not key.owner.is_active:
        return None
    secret = unseal(key.secret_sealed)
    return (key, secret) if secret else None


def access_key_touch(key: AccessKey) -> None:
    """Note that the key was used (at most once per LAST_USED_RESOLUTION)."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        AccessKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
