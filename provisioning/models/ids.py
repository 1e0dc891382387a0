"""EC2-style public identifiers (i-, r-, sg-, key-, ami-, pg-)."""
from __future__ import annotations

import hashlib
import secrets


def new_public_id(prefix: str) -> str:
    """EC2-style identifier: prefix + 17 lowercase hex digits."""
    return f"{prefix}-{secrets.token_hex(9)[:17]}"


def stable_public_id(prefix: str, seed: str) -> str:
    """Deterministic identifier (seeded catalog entries keep their ami- id across reseeds)."""
    return f"{prefix}-{hashlib.sha1(seed.encode()).hexdigest()[:17]}"


def _instance_id() -> str:
    return new_public_id("i")


def _reservation_id() -> str:
    return new_public_id("r")


def _sg_id() -> str:
    return new_public_id("sg")


def _key_id() -> str:
    return new_public_id("key")


def _ami_id() -> str:
    return new_public_id("ami")


def _pg_id() -> str:
    return new_public_id("pg")


def _access_key_id() -> str:
    """AWS-shaped access key id: AKIA + 16 characters of RFC 4648 base32 (A-Z, 2-7)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))


def _migration_id() -> str:
    return new_public_id("mig")


def _maintenance_id() -> str:
    return new_public_id("mnt")
