"""Generated login passwords never rest in clear.

With an RSA key pair the password is kept only encrypted to the key pair's public key (PKCS#1 v1.5,
base64): exactly EC2's GetPasswordData, which the owner decrypts with the private key
(`aws ec2 get-password-data --priv-launch-key key.pem`); Skyport itself can no longer read it.
Otherwise (no key pair, or an Ed25519 one, which cannot encrypt) it is sealed with the server key
(`provisioning.crypto.seal`) and erased the first time the owner reveals it.
"""
from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..crypto import seal, unseal
from ..models import Instance, KeyPair


def password_encrypt_for(key_pair: KeyPair, password: str) -> str | None:
    """`password` encrypted to an RSA key pair's public key (base64), None for a key that cannot encrypt."""
    try:
        public = serialization.load_ssh_public_key(key_pair.public_key.encode())
    except (ValueError, TypeError, IndexError):
        return None
    if not isinstance(public, rsa.RSAPublicKey):
        return None
    return base64.b64encode(public.encrypt(password.encode(), padding.PKCS1v15())).decode("ascii")


def password_store(inst: Instance, password: str) -> None:
    """Keep a freshly generated password on `inst` (the caller saves): encrypted or sealed, never clear."""
    encrypted = password_encrypt_for(inst.key_pair, password) if inst.key_pair_id else None
    if encrypted is not None:
        inst.password_data, inst.initial_password = encrypted, ""
    else:
        inst.password_data, inst.initial_password = "", seal(password)


def password_unseal(inst: Instance) -> str | None:
    """The sealed password in clear (for the one reveal), None when there is none or it cannot be read."""
    return unseal(inst.initial_password) if inst.initial_password else None
