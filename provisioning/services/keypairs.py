"""Key pairs: generate (private key returned once, never stored) or import a public key."""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from django.db import IntegrityError, transaction

from ..exceptions import InvalidRequest
from ..models import KeyPair
from ..selectors import owned_get
from .events import actor_name, event_record
from .names import NAME_RE, NAME_RULE

KEY_TYPES = ("ed25519", "rsa")
UNSUPPORTED = "Unsupported key type '{kind}': paste an 'ssh-ed25519 AAAA…' or 'ssh-rsa AAAA…' public key."


@dataclass(frozen=True)
class CreatedKeyPair:
    key_pair: KeyPair
    private_key_pem: str  # shown to the user exactly once ("" for an imported key)


@dataclass(frozen=True)
class NewKeyPair:
    """A key pair to make together with a launch: generated when `public_key` is None, else imported."""

    name: str
    key_type: str = "ed25519"
    public_key: str | None = None


def pem_filename(key_name: str) -> str:
    """The file a key pair's private key downloads as; every connect hint names the same file.

    Letters, digits, '-', '_' and '.' are kept, anything else (spaces, '/') becomes '_', so the
    hints can be pasted into a shell as they are.
    """
    stem = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in key_name).lstrip(".")
    return f"{stem or 'key'}.pem"


def _fingerprint(public_openssh: str) -> str:
    blob = base64.b64decode(public_openssh.split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def _validate_name(user, name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidRequest({"name": "Give the key pair a name."})
    if not NAME_RE.match(name):
        raise InvalidRequest({"name": NAME_RULE})
    if KeyPair.objects.filter(owner=user, name=name).exists():
        raise InvalidRequest({"name": f"You already have a key pair named '{name}'; choose another name."})
    return name


def _store(user, name: str, key_type: str, public_key: str, *, verb: str) -> KeyPair:
    """Save a public key and log it; a name taken meanwhile (a racing request) is a 400, not a 500."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                kp = KeyPair.objects.create(owner=user, name=name, key_type=key_type, public_key=public_key,
                                            fingerprint=_fingerprint(public_key))
        except IntegrityError as exc:
            raise InvalidRequest({"name": f"You already have a key pair named '{name}'."}) from exc
        past = {"create": "created", "import": "imported"}[verb]
        event_record(action=f"keypair.{verb}", message=f"Key pair {name} {past}", owner=user, actor=actor_name(user))
    return kp


def keypair_create(*, user, name: str, key_type: str = "ed25519") -> CreatedKeyPair:
    name = _validate_name(user, name)
    if key_type not in KEY_TYPES:
        raise InvalidRequest({"key_type": f"Choose one of: {', '.join(KEY_TYPES)}."})
    private = ed25519.Ed25519PrivateKey.generate() if key_type == "ed25519" else rsa.generate_private_key(
        public_exponent=65537, key_size=2048
    )
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    return CreatedKeyPair(_store(user, name, key_type, public, verb="create"), private_pem)


def parse_public_key(public_key: str) -> tuple[str, str]:
    """Return (normalised OpenSSH public key, key type) or raise InvalidRequest naming the field."""
    text = (public_key or "").strip()
    if not text:
        raise InvalidRequest({"public_key": "Paste an OpenSSH public key (ssh-ed25519 AAAA… or ssh-rsa AAAA…)."})
    try:
        loaded = serialization.load_ssh_public_key(text.encode())
    except UnsupportedAlgorithm as exc:  # a well-formed key of a type we do not take (ssh-dss, sk-…)
        raise InvalidRequest({"public_key": UNSUPPORTED.format(kind=text.split()[0][:40])}) from exc
    except (ValueError, TypeError, IndexError) as exc:
        raise InvalidRequest(
            {"public_key": "This is not a valid OpenSSH public key; expected 'ssh-ed25519 AAAA…' or 'ssh-rsa AAAA…'."}
        ) from exc
    if isinstance(loaded, rsa.RSAPublicKey):
        if loaded.key_size < 2048:
            msg = f"RSA keys must be at least 2048 bits; this one has {loaded.key_size}."
            raise InvalidRequest({"public_key": msg})
        kind = "rsa"
    elif isinstance(loaded, ed25519.Ed25519PublicKey):
        kind = "ed25519"
    else:
        raise InvalidRequest({"public_key": UNSUPPORTED.format(kind=text.split()[0][:40])})
    normalised = loaded.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    comment = text.split()[2] if len(text.split()) > 2 else ""
    return (f"{normalised} {comment}".strip(), kind)


def keypair_import(*, user, name: str, public_key: str) -> KeyPair:
    name = _validate_name(user, name)
    normalised, kind = parse_public_key(public_key)
    return _store(user, name, kind, normalised, verb="import")


def keypair_new_problems(*, user, new: NewKeyPair) -> dict[str, str]:
    """What stops `new` from being made (field -> message; empty if nothing), without writing."""
    problems: dict[str, str] = {}
    try:
        _validate_name(user, new.name)
    except InvalidRequest as exc:
        problems["name"] = exc.errors["name"][0]
    if new.public_key is None:
        if new.key_type not in KEY_TYPES:
            problems["key_type"] = f"Choose one of: {', '.join(KEY_TYPES)}."
    else:
        try:
            parse_public_key(new.public_key)
        except InvalidRequest as exc:
            problems["public_key"] = exc.errors["public_key"][0]
    return problems


def keypair_new(*, user, new: NewKeyPair) -> CreatedKeyPair:
    """Generate or import `new`; a generated private key is in the result, never stored."""
    if new.public_key is None:
        return keypair_create(user=user, name=new.name, key_type=new.key_type)
    return CreatedKeyPair(keypair_import(user=user, name=new.name, public_key=new.public_key), "")


def keypair_get(*, user, ref: str) -> KeyPair:
    """By name or key- id, only the caller's own (`owned_get` for key pairs)."""
    return owned_get(KeyPair, user=user, ref=ref)


def keypair_delete(*, user, ref: str) -> None:
    kp = owned_get(KeyPair, user=user, ref=ref)
    with transaction.atomic():
        kp.delete()
        event_record(action="keypair.delete", message=f"Key pair {kp.name} deleted", owner=user, actor=actor_name(user))
