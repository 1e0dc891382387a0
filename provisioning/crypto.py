"""Secrets at rest: sealed with a server key, never stored in clear.

Generated passwords, access-key secrets and a generated private key waiting for its one download
are kept only as Fernet tokens (AES-128-CBC + HMAC-SHA256, from `cryptography`). The key comes
from `SKYPORT_SECRETS_KEY` (any string; a deployment sets its own and keeps it with its database
backups) and otherwise is derived from `SECRET_KEY`, so a database dump alone reveals nothing.
"""
from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    material = getattr(settings, "SKYPORT_SECRETS_KEY", "") or settings.SECRET_KEY
    key = hashlib.sha256(("skyport-secrets:" + material).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(text: str) -> str:
    """The sealed form of `text` (a URL-safe ASCII token, about 1.4x longer plus 57 bytes)."""
    return _fernet().encrypt(text.encode()).decode("ascii")


def unseal(token: str, *, max_age_s: int | None = None) -> str | None:
    """The text sealed in `token`, or None if it was tampered with, sealed with another key, or is
    older than `max_age_s` seconds (a one-time download that waited too long)."""
    if not token:
        return None
    try:
        return _fernet().decrypt(token.encode("ascii"), ttl=max_age_s).decode()
    except (InvalidToken, ValueError):
        return None
