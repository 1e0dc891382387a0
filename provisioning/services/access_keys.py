"""Access keys for the EC2 Query API: created by their owner, the secret shown once, revocable.

SigV4 verification recomputes the request's signature, which needs the secret itself (a hash would
not do): it is kept sealed with the server key (`provisioning.crypto`); a process unseals it when the key is
first used there, and again whenever its row changes.
"""
from __future__ import annotations

import copy
import secrets
import threading
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..crypto import seal, unseal
from ..db import prepared_cursor
from ..exceptions import InvalidRequest, NotFound
from ..models import AccessKey
from .events import actor_name, event_record

MAX_ACTIVE_KEYS = 10
SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# `last_used_at` is written at most this often (a write per request would cost every request).
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Every request reads its key's row and its owner's flags in one statement (prepared on PostgreSQL), so a
# revoked key, a deactivated owner or a changed permission is refused at once in every process. While that row
# reads the same, the process reuses what it built from it before: the key and owner objects and the unsealed
# secret (the unseal and the ORM's two-table read cost more than this one statement).
_OWNER_TABLE = AccessKey._meta.get_field("owner").related_model._meta.db_table
_CHECK_SQL = (f"SELECT k.secret_sealed, k.read_only, u.is_active, u.is_staff, u.is_superuser, u.username "
              f"FROM {AccessKey._meta.db_table} k JOIN {_OWNER_TABLE} u ON u.id = k.owner_id "
              f"WHERE k.access_key_id = %s AND k.revoked_at IS NULL")
_remembered: dict[str, tuple[tuple, AccessKey, str]] = {}
_remembered_lock = threading.Lock()


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
            access_key_forget(key.access_key_id)
            event_record(action="access_key.revoke", owner=user, actor=actor_name(user),
                         message=f"Access key {key.access_key_id} revoked")
    return key


def access_key_credentials(access_key_id: str) -> tuple[AccessKey, str] | None:
    """The active key with this id and its secret, or None (unknown, revoked, owner inactive, unreadable).

    Checked against the database on every call; each caller gets its own copies of the key and its owner
    (never objects another request holds).
    """
    with prepared_cursor() as cur:
        cur.execute(_CHECK_SQL, [access_key_id])
        row = cur.fetchone()
    if row is None or not row[2]:
        access_key_forget(access_key_id)
        return None
    row = tuple(row)
    with _remembered_lock:
        hit = _remembered.get(access_key_id)
    if hit is None or hit[0] != row:  # new here, or its row changed: build it again
        found = _credentials_read(access_key_id)
        with _remembered_lock:
            if found is None:
                _remembered.pop(access_key_id, None)
                return None
            if len(_remembered) > 10_000:  # bound the memory; entries are cheap to build again
                _remembered.clear()
            # Keyed by the row read before: if it changed in between, the next call sees a difference.
            hit = _remembered[access_key_id] = (row, *found)
    _, key, secret = hit
    mine = copy.copy(key)
    mine.owner = copy.copy(key.owner)
    return mine, secret


def _credentials_read(access_key_id: str) -> tuple[AccessKey, str] | None:
    try:  # the unique id: no ORDER BY (this runs on every EC2 request)
        key = AccessKey.objects.select_related("owner").get(access_key_id=access_key_id, revoked_at__isnull=True)
    except AccessKey.DoesNotExist:
        return None
    if not key.owner.is_active:
        return None
    secret = unseal(key.secret_sealed)
    return (key, secret) if secret else None


def access_key_forget(access_key_id: str) -> None:
    """Drop what this process remembers of a key (every process refuses a revoked key anyway)."""
    with _remembered_lock:
        _remembered.pop(access_key_id, None)


def access_key_touch(key: AccessKey) -> None:
    """Note that the key was used (at most once per LAST_USED_RESOLUTION)."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        AccessKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
        with _remembered_lock:
            hit = _remembered.get(key.access_key_id)
            if hit is not None:
                hit[1].last_used_at = now  # the remembered copy too: no second write within the minute
