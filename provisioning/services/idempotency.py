"""Idempotency keys for create requests (REST `Idempotency-Key`, later the EC2 `ClientToken`).

A client that retries a create (a timeout, a dropped connection) must get the original result
back, not a second reservation. The key is remembered per (owner, scope, key) together with a hash
of the request body; the database's unique constraint on that triple decides who runs the create.

How concurrent identical requests end up with exactly one reservation:

* The record insert, the create and the record's link to the reservation run in ONE transaction,
  the insert in its own savepoint. On PostgreSQL (READ COMMITTED) a second transaction inserting
  the same key blocks on the unique index until the first one ends; if the first committed, the
  insert fails with a unique violation and the statement that follows (a fresh snapshot) already
  sees the committed record and its reservation. If the first rolled back, the insert succeeds
  and the second request runs the create itself. On SQLite, `transaction_mode=IMMEDIATE` takes
  the write lock at BEGIN, so the requests simply run one after the other.
* A launch refused with a domain error (400 invalid, 400 quota, 409 capacity) deletes the record
  in the same transaction, so the key can be retried; the refusal's event-log entry is kept.
* A crash rolls the whole transaction back: no record is ever left half-done. A record without a
  reservation can only be seen by a reader under a weaker guarantee (e.g. a replica); the caller
  then polls briefly and finally gets a 409 "still in progress".
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ..exceptions import IdempotencyConflict, InvalidRequest, SkyportError
from ..models import IdempotencyRecord, Reservation

KEY_MAX_LENGTH = 255
# How long a key is remembered (Stripe keeps keys for 24 hours); past that it may be reused.
DEFAULT_TTL_S = 24 * 3600
# How long a request waits for another request holding the same key to finish.
WAIT_S = 10.0
POLL_S = 0.05


class IdempotencyInProgress(SkyportError):
    """Another request with the same key has not finished yet; retry shortly."""

    status = 409
    code = "idempotency_key_in_progress"


def body_hash(body: Any) -> str:
    """SHA-256 of the canonical JSON of a request body (sorted keys, no whitespace)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def key_validate(key: str, *, field: str = "Idempotency-Key") -> str:
    """A usable key: 1..255 printable ASCII characters (a UUID is the usual choice)."""
    key = (key or "").strip()
    if not key:
        raise InvalidRequest({field: "The idempotency key is empty; send a unique value such as a UUID."})
    if len(key) > KEY_MAX_LENGTH:
        raise InvalidRequest({field: f"The idempotency key is {len(key)} characters; the limit is {KEY_MAX_LENGTH}."})
    if not key.isascii() or not key.isprintable():
        raise InvalidRequest({field: "Use printable ASCII characters only (a UUID is a good key)."})
    return key


def _ttl() -> timedelta:
    return timedelta(seconds=getattr(settings, "SKYPORT_IDEMPOTENCY_TTL_S", DEFAULT_TTL_S))


def _mismatch(key: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        f"Idempotency key '{key}' was already used with a different request body. Send the same body to get "
        "the original result, or use a new key for a new request."
    )


def _lookup(*, user, scope: str, key: str, request_hash: str) -> tuple[str, Reservation | None]:
    """("absent" | "replay" | "pending", reservation). Expired records are removed (a fresh start)."""
    record = IdempotencyRecord.objects.filter(owner=user, scope=scope, key=key).select_related("reservation").first()
    if record is None:
        return "absent", None
    if record.created_at < timezone.now() - _ttl():
        IdempotencyRecord.objects.filter(pk=record.pk, created_at=record.created_at).delete()
        return "absent", None
    if record.request_hash != request_hash:
        raise _mismatch(key)
    if record.reservation is None:
        return "pending", None
    return "replay", record.reservation


def idempotent_reservation(
    *, user, key: str, scope: str, body: Any, create: Callable[[], Reservation]
) -> tuple[Reservation, bool]:
    """Run `create` once per (user, scope, key); return (reservation, replayed).

    Same key and body as an earlier request: its reservation, replayed=True. Same key, another
    body: IdempotencyConflict (422). `create` raising a SkyportError frees the key again.
    """
    key = key_validate(key)
    request_hash = body_hash(body)
    deadline = time.monotonic() + WAIT_S
    # On SQLite a cheap read first spares a replay the write lock. On PostgreSQL the insert arbitrates by
    # itself (a replay's insert fails, then reads the record), so a new key costs no read before it.
    read_first = connection.vendor != "postgresql"
    while True:
        if read_first:
            status, reservation = _lookup(user=user, scope=scope, key=key, request_hash=request_hash)
        else:
            status, reservation, read_first = "absent", None, True
        if status == "replay":
            return reservation, True
        if status == "absent":
            outcome = _claim_and_create(user=user, key=key, scope=scope, request_hash=request_hash, create=create)
            if outcome is not None:
                return outcome
        if time.monotonic() >= deadline:
            raise IdempotencyInProgress(
                f"A request with idempotency key '{key}' is still being processed; retry in a few seconds."
            )
        time.sleep(POLL_S)


_CLAIM_SQL = (f"INSERT INTO {IdempotencyRecord._meta.db_table} (owner_id, scope, key, request_hash, created_at) "
              f"VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id")


def _claim(*, user, key: str, scope: str, request_hash: str) -> int | None:
    """Insert the record; its id, or None when the key is taken. One statement and no savepoint: on
    PostgreSQL an insert racing another request's uncommitted one waits for it, then does nothing if it
    committed (or inserts if it rolled back), as the unique index's violation would have told."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cur:
        cur.execute(_CLAIM_SQL, [user.pk, scope, key, request_hash, now])
        row = cur.fetchone()
    return row[0] if row else None


def _claim_and_create(
    *, user, key: str, scope: str, request_hash: str, create: Callable[[], Reservation]
) -> tuple[Reservation, bool] | None:
    """Insert the record and create in one transaction; None when another request holds the key."""
    failure: SkyportError | None = None
    with transaction.atomic():
        record_id = _claim(user=user, key=key, scope=scope, request_hash=request_hash)
        if record_id is None:
            # Another request inserted the key first (and, on PostgreSQL, has committed by now).
            status, reservation = _lookup(user=user, scope=scope, key=key, request_hash=request_hash)
            if status == "replay":
                return reservation, True
            return None
        record = IdempotencyRecord.objects.filter(pk=record_id)
        try:
            reservation = create()
        except SkyportError as exc:
            # Refused: free the key, but keep what the refusal wrote (the event log entry).
            record.delete()
            failure = exc
        else:
            record.update(reservation=reservation)
    if failure is not None:
        raise failure
    return reservation, False
