"""Key pairs: CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair."""
from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import serialization

from provisioning.exceptions import NotFound, SkyportError
from provisioning.selectors import keypair_list
from provisioning.services.keypairs import keypair_create, keypair_delete, keypair_get, keypair_import

from ..errors import Ec2Error, from_domain, invalid
from ..filters import apply, match
from ..params import check_ids
from . import Call, action

DUPLICATE = {"name": "InvalidKeyPair.Duplicate"}


def _duplicate_or(exc: SkyportError, name: str) -> Ec2Error:
    err = from_domain(exc, fields=DUPLICATE if "already have" in exc.message else {"name": "InvalidParameterValue"})
    if err.code == "InvalidKeyPair.Duplicate":
        err.message = f"The keypair '{name}' already exists."
    return err


def _pem(private_openssh: str, key_type: str) -> str:
    """EC2's `pem` key format: PKCS#1 (BEGIN RSA PRIVATE KEY) for RSA, which `aws ec2 get-password-data
    --priv-launch-key` and ssh read; Ed25519 keys stay in OpenSSH's format, as EC2 gives them."""
    if key_type != "rsa":
        return private_openssh
    key = serialization.load_ssh_private_key(private_openssh.encode(), password=None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


@action("CreateKeyPair", mutates=True)
def create_key_pair(call: Call) -> dict:
    p = call.params
    name = p.str("KeyName", required=True)
    key_type = p.str("KeyType", default="rsa")  # EC2's default
    if key_type not in ("rsa", "ed25519"):
        raise invalid(f"Invalid value '{key_type}' for KeyType: use rsa or ed25519.")
    key_format = p.str("KeyFormat", default="pem")
    if key_format != "pem":
        raise invalid(f"Invalid value '{key_format}' for KeyFormat: Skyport returns pem only.")
    if p.bool("DryRun"):
        if keypair_list(user=call.user).filter(name=name).exists():
            raise Ec2Error("InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists.")
        call.dry_run()
    try:
        created = keypair_create(user=call.user, name=name, key_type=key_type)
    except SkyportError as exc:
        raise _duplicate_or(exc, name) from None
    kp = created.key_pair
    return {"keyName": kp.name, "keyFingerprint": kp.fingerprint,
            "keyMaterial": _pem(created.private_key_pem, kp.key_type), "keyPairId": kp.public_id, "tagSet": []}


@action("ImportKeyPair", mutates=True)
def import_key_pair(call: Call) -> dict:
    p = call.params
    name = p.str("KeyName", required=True)
    material = p.str("PublicKeyMaterial", required=True)
    try:
        public_key = base64.b64decode(material, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise Ec2Error("InvalidKey.Format", "PublicKeyMaterial must be the base64 of an OpenSSH public key "
                                            "(boto3 and awscli encode it for you).") from None
    call.dry_run()
    try:
        kp = keypair_import(user=call.user, name=name, public_key=public_key)
    except SkyportError as exc:
        raise _duplicate_or(exc, name) from None
    except ValueError:  # cryptography: a key type it does not know
        raise Ec2Error("InvalidKey.Format", "Key is not in valid OpenSSH public key format (ssh-rsa or "
                                            "ssh-ed25519).") from None
    return {"keyName": kp.name, "keyFingerprint": kp.fingerprint, "keyPairId": kp.public_id, "tagSet": []}


@action("DescribeKeyPairs")
def describe_key_pairs(call: Call) -> dict:
    p = call.params
    names = p.list("KeyName")
    ids = check_ids("key", p.list("KeyPairId"))
    known = {
        "key-name": lambda v: match("name", v),
        "key-pair-id": lambda v: match("public_id", v),
        "fingerprint": lambda v: match("fingerprint", v),
        "key-type": lambda v: match("key_type", v),
    }
    qs = apply(keypair_list(user=call.user), p.filters(set(known)), known)
    rows = list(qs)
    if names or ids:
        by_name = {kp.name: kp for kp in rows}
        by_id = {kp.public_id: kp for kp in rows}
        missing = [n for n in names if n not in by_name] + [i for i in ids if i not in by_id]
        if missing:
            raise Ec2Error("InvalidKeyPair.NotFound", f"The key pair '{missing[0]}' does not exist")
        rows = [kp for kp in rows if kp.name in names or kp.public_id in ids]
    with_public = p.bool("IncludePublicKey")
    return {"keySet": [{
        "keyPairId": kp.public_id, "keyName": kp.name, "keyFingerprint": kp.fingerprint, "keyType": kp.key_type,
        "createTime": kp.created_at, "publicKey": kp.public_key if with_public else None, "tagSet": [],
    } for kp in rows]}


@action("DeleteKeyPair", mutates=True)
def delete_key_pair(call: Call) -> dict:
    """EC2: deleting a key name that does not exist succeeds; an unknown key pair id is NotFound."""
    p = call.params
    key_id = p.str("KeyPairId")
    name = p.str("KeyName")
    if not key_id and not name:
        raise Ec2Error("MissingParameter", "The request must contain the parameter KeyName or KeyPairId.")
    if key_id:
        check_ids("key", [key_id])
    try:
        kp = keypair_get(user=call.user, ref=key_id or name)
    except NotFound:
        if key_id:
            raise Ec2Error("InvalidKeyPair.NotFound", f"The key pair '{key_id}' does not exist") from None
        call.dry_run()
        return {"return": True}
    call.dry_run()
    keypair_delete(user=call.user, ref=kp.public_id)
    return {"return": True, "keyPairId": kp.public_id}
