"""RunInstances: one call to `instance_launch`, the launch entry point the web form and REST use too.

EC2's semantics: MinCount..MaxCount (as many as fit, at least MinCount, or nothing), ClientToken as
the idempotency key (scope "ec2": a repeat returns the original reservation, a changed request is
IdempotentParameterMismatch), TagSpecifications tag the instances in the same transaction, DryRun
validates everything and launches nothing.
"""
from __future__ import annotations

import base64
import binascii

from provisioning.exceptions import SkyportError
from provisioning.services.launch import instance_launch, launch_validate

from ..errors import Ec2Error, from_domain, invalid
from ..params import check_ids
from . import Call, action
from .instances import EC2_SCOPE, _with_related, reservation_items, visible

DEFAULT_INSTANCE_TYPE = "t3.micro"  # EC2 defaults to m1.small, which the catalog does not have


def _user_data(raw: str) -> str:
    if not raw:
        return ""
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise invalid("Invalid BASE64 encoding of user data (boto3 and awscli encode it; Skyport keeps UTF-8 "
                      "text).") from None


def _tags(call: Call) -> dict[str, str]:
    tags: dict[str, str] = {}
    for n, spec in enumerate(call.params.structs("TagSpecification"), start=1):
        kind = spec.get("ResourceType", "")
        if kind != "instance":
            raise invalid(f"TagSpecification.{n}.ResourceType '{kind}': Skyport tags instances only ('instance').")
        for m, tag in enumerate(spec.get("Tag", []) if isinstance(spec.get("Tag"), list) else [], start=1):
            key = tag.get("Key") if isinstance(tag, dict) else None
            if not key:
                raise Ec2Error("MissingParameter", f"TagSpecification.{n}.Tag.{m}.Key is missing.")
            tags[key] = tag.get("Value", "")
    return tags


def launch_fields(call: Call) -> dict:
    """RunInstances' parameters as `instance_launch` fields."""
    p = call.params
    image = p.str("ImageId", required=True)
    check_ids("ami", [image])
    min_count = p.int("MinCount", required=True, low=1)
    max_count = p.int("MaxCount", required=True, low=1)
    if max_count < min_count:
        raise invalid(f"MinCount ({min_count}) must be less than or equal to MaxCount ({max_count}).")
    group_ids = check_ids("sg", p.list("SecurityGroupId"))
    placement = p.tree.get("Placement", {})
    zone = placement.get("AvailabilityZone", "") if isinstance(placement, dict) else ""
    return {
        "appliance": image,
        "instance_type": p.str("InstanceType", default=DEFAULT_INSTANCE_TYPE),
        "key_name": p.str("KeyName"),
        "security_groups": group_ids + p.list("SecurityGroup"),
        "user_data": _user_data(p.str("UserData")),
        "min_count": min_count,
        "max_count": max_count,
        "availability_zone": zone,
        "tags": _tags(call),
    }


def _refusal(exc: SkyportError, fields: dict) -> Ec2Error:
    err = from_domain(exc, fields={"instance_type": "InvalidParameterValue"})
    if err.code == "InvalidAMIID.NotFound":
        err.message = f"The image id '[{fields['appliance']}]' does not exist"
    return err


@action("RunInstances", mutates=True)
def run_instances(call: Call) -> dict:
    fields = launch_fields(call)
    if call.params.bool("DryRun"):
        try:
            launch_validate(user=call.user, **fields)
        except SkyportError as exc:
            raise _refusal(exc, fields) from None
        call.dry_run()
    token = call.params.str("ClientToken")
    if len(token) > 64:
        raise invalid("ClientToken is at most 64 ASCII characters.")
    try:
        result = instance_launch(user=call.user, idempotency_key=token or None, idempotency_scope=EC2_SCOPE,
                                 **fields)
    except SkyportError as exc:
        raise _refusal(exc, fields) from None
    if result.instances:  # a new launch: answer with what it wrote, without reading it back
        return reservation_items(call.user, list(result.instances), client_token=token, whole=True,
                                 written=(list(result.security_groups), result.tags))[0]
    instances = list(_with_related(visible(call.user), call.user).filter(reservation=result.reservation).order_by("pk"))
    if not instances:
        raise Ec2Error("InvalidParameterValue", f"ClientToken '{token}' belongs to reservation "
                                                f"{result.reservation.public_id}, whose instances are gone.")
    return reservation_items(call.user, instances, client_token=token, whole=True)[0]
