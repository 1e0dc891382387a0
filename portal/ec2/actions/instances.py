"""Instances: DescribeInstances, DescribeInstanceStatus, Start/Stop/Reboot/TerminateInstances,
GetConsoleOutput, GetPasswordData (RunInstances: `launch.py`)."""
from __future__ import annotations

import base64
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from provisioning.choices import STATE_CODES
from provisioning.exceptions import SkyportError
from provisioning.lifecycle import transition_check
from provisioning.models import IdempotencyRecord, Instance, InstanceTag
from provisioning.selectors import instance_list
from provisioning.services.instances import instances_action

from ..errors import Ec2Error, from_domain, invalid
from ..filters import apply, match, page
from ..params import check_ids
from . import Call, account_id, action

EC2_SCOPE = "ec2"  # idempotency scope of RunInstances' ClientToken
NOT_FOUND = "InvalidInstanceID.NotFound"
# Skyport's `error` (a launch that failed) is EC2's terminated with a Server.InternalError reason.
EC2_STATE = {"error": "terminated"}
STATE_NAMES = {"pending", "running", "shutting-down", "terminated", "stopping", "stopped"}
# A launch's security groups and tags, as it wrote them.
Written = tuple[list, dict[str, str]]


def ec2_state(inst: Instance) -> dict:
    name = EC2_STATE.get(inst.state, inst.state)
    return {"code": STATE_CODES[name], "name": name}


def _states(names: list[str]) -> list[str]:
    out = []
    for name in names:
        out.append(name)
        if name == "terminated":
            out.append("error")
    return out


def _codes(values: list[str]) -> Q:
    by_code = {str(code): name for name, code in STATE_CODES.items() if name != "error"}
    return Q(state__in=_states([by_code[v] for v in values if v in by_code]))


def _tag(key: str, values: list[str]) -> Q:
    tags = InstanceTag.objects.filter(instance=OuterRef("pk"), key=key).filter(match("value", values))
    return Q(Exists(tags))


def _client_token(user_id: int) -> callable:
    def build(values: list[str]) -> Q:
        records = IdempotencyRecord.objects.filter(owner_id=user_id, scope=EC2_SCOPE).filter(match("key", values))
        return Q(reservation_id__in=records.values("reservation_id"))
    return build


def instance_filters(user) -> dict:
    return {
        "instance-id": lambda v: match("public_id", v),
        "instance-state-name": lambda v: Q(state__in=_states(v)),
        "instance-state-code": _codes,
        "instance-type": lambda v: match("instance_type__name", v),
        "image-id": lambda v: match("appliance__public_id", v),
        "key-name": lambda v: match("key_name", v),
        "availability-zone": lambda v: match("availability_zone", v),
        "placement-availability-zone": lambda v: match("availability_zone", v),
        "client-token": _client_token(user.pk),
        "reservation-id": lambda v: match("reservation__public_id", v),
        "private-ip-address": lambda v: match("private_ip", v),
        "tag-key": lambda v: Q(Exists(InstanceTag.objects.filter(instance=OuterRef("pk")).filter(match("key", v)))),
        "tag-value": lambda v: Q(Exists(InstanceTag.objects.filter(instance=OuterRef("pk")).filter(match("value", v)))),
    }


def visible(user) -> QuerySet[Instance]:
    """The caller's instances as EC2 shows them: a terminated one stays visible for an hour
    (SKYPORT_EC2_TERMINATED_VISIBLE_S), then drops out of Describe* (the web and REST keep it)."""
    cutoff = timezone.now() - timedelta(seconds=getattr(settings, "SKYPORT_EC2_TERMINATED_VISIBLE_S", 3600))
    # EC2 never shows the host: join the catalog rows only.
    return instance_list(user=user).select_related(None).select_related("appliance", "instance_type").exclude(
        state__in=["terminated", "error"], updated_at__lt=cutoff)


# What naming instances for a state change needs (the service locks and reads each row itself).
IDENTITY = ("public_id", "state", "task", "step")


def resolve(call: Call, ids: list[str], *, name: str = "InstanceId", fields: tuple[str, ...] = ()) -> list[Instance]:
    """The caller's instances with these ids, in order; any other id (another user's too) is NotFound.

    `fields`: read only these columns (and no catalog rows), for a caller that needs no more.
    """
    ids = check_ids("i", ids)
    if not ids:
        raise Ec2Error("MissingParameter", f"The request must contain the parameter {name}.")
    qs = visible(call.user).filter(public_id__in=ids).order_by()
    if fields:
        qs = qs.select_related(None).only(*fields)
    found = {inst.public_id: inst for inst in qs}
    _missing(ids, set(found))
    return [found[i] for i in ids]


def _missing(ids: list[str], found: set[str]) -> None:
    missing = [i for i in ids if i not in found]
    if missing:
        quoted = ", ".join(f"'{i}'" for i in missing)
        raise Ec2Error(NOT_FOUND, f"The instance ID{'s' if len(missing) > 1 else ''} {quoted} "
                                  f"do{'' if len(missing) > 1 else 'es'} not exist")


def instance_item(inst: Instance, *, index: int = 0, client_token: str = "", written: Written | None = None) -> dict:
    """One instance in EC2's shape (RunInstances' and DescribeInstances' instancesSet item).

    `written`: the security groups and tags the launch just gave it (else they are read).
    """
    if written is None:
        groups, tags = inst.security_groups.all(), {t.key: t.value for t in inst.tags.all()}
    else:  # in the order the models read them: groups by name, tags by key
        groups, tags = sorted(written[0], key=lambda g: g.name), dict(sorted(written[1].items()))
    reason = None
    if inst.state == "error":
        reason = {"code": "Server.InternalError", "message": f"Server.InternalError: {inst.state_reason}"}
    elif inst.state in ("stopped", "stopping", "terminated", "shutting-down"):
        reason = {"code": "Client.UserInitiatedShutdown",
                  "message": "Client.UserInitiatedShutdown: User initiated shutdown"}
    windows = inst.appliance.os_family == "windows"
    return {
        "instanceId": inst.public_id,
        "imageId": inst.appliance.public_id,
        "instanceState": ec2_state(inst),
        "privateDnsName": inst.hostname or "",
        "dnsName": "",
        "reason": inst.state_reason or "",
        "keyName": inst.key_name or None,
        "amiLaunchIndex": index,
        "productCodes": [],
        "instanceType": inst.instance_type.name,
        "launchTime": inst.launched_at or inst.created_at,
        "placement": {"availabilityZone": inst.availability_zone or "", "groupName": (
            inst.placement_group.name if inst.placement_group_id else ""), "tenancy": "default"},
        "platform": "windows" if windows else None,
        "platformDetails": "Windows" if windows else "Linux/UNIX",
        "monitoring": {"state": "disabled"},
        "privateIpAddress": inst.private_ip,
        "groupSet": [{"groupId": g.public_id, "groupName": g.name} for g in groups],
        "stateReason": reason,
        "architecture": inst.appliance.architecture,
        "rootDeviceType": "ebs",
        "rootDeviceName": "/dev/sda1" if windows else "/dev/xvda",
        "blockDeviceMapping": [],
        "virtualizationType": "paravirtual" if inst.virt_mode == "paravirtualization" else "hvm",
        "clientToken": client_token,
        "tagSet": [{"key": k, "value": v} for k, v in tags.items()],
        "networkInterfaceSet": [],
        "ebsOptimized": False,
    }


# What an instance item never shows (the console, the boot plan and the secrets are read only when asked for).
UNSHOWN = ("user_data", "initial_password", "password_data", "credentials_shown_at", "console_log", "boot_plan",
           "mac_address", "login_user", "terminated_at")


def _with_related(qs: QuerySet[Instance], user) -> QuerySet[Instance]:
    """What `reservation_items` shows, read with the instances: their reservation's ClientToken in the same
    query, groups and tags in one query each."""
    token = IdempotencyRecord.objects.filter(owner=user, scope=EC2_SCOPE, reservation_id=OuterRef("reservation_id"))
    return qs.select_related("reservation", "placement_group").prefetch_related("security_groups", "tags").annotate(
        ec2_client_token=Subquery(token.values("key")[:1])).defer(*UNSHOWN)


def reservation_items(user, instances: list[Instance], *, client_token: str | None = None,
                      whole: bool = False, written: Written | None = None) -> list[dict]:
    """Instances grouped by reservation, in order, with launch indexes and client tokens.

    `whole`: `instances` are every instance of their reservations (RunInstances' answer), and
    `client_token` the token they were launched with (else each instance carries its reservation's, read
    by `_with_related`): then no query is needed for either.
    `written`: the groups and tags a launch just gave every one of `instances` (no query either).
    """
    if client_token is None:
        tokens = {inst.reservation_id: inst.ec2_client_token or "" for inst in instances}
    else:
        tokens = dict.fromkeys((inst.reservation_id for inst in instances), client_token)
    siblings: dict[int, list[int]] = {}
    several = [inst.reservation_id for inst in instances if inst.reservation.max_count > 1]
    if whole:
        for inst in sorted(instances, key=lambda i: i.pk):
            siblings.setdefault(inst.reservation_id, []).append(inst.pk)
    elif several:  # a launch of one instance has index 0: no query
        for res_id, pk in Instance.objects.filter(reservation_id__in=several).order_by("pk").values_list(
                "reservation_id", "pk"):
            siblings.setdefault(res_id, []).append(pk)
    grouped: dict[int, list[Instance]] = {}
    for inst in instances:
        grouped.setdefault(inst.reservation_id, []).append(inst)
    out = []
    for res_id, members in grouped.items():
        reservation = members[0].reservation
        order = siblings.get(res_id, [])
        out.append({
            "reservationId": reservation.public_id,
            "ownerId": account_id(user),
            "groupSet": [],
            "instancesSet": [instance_item(inst, index=order.index(inst.pk) if inst.pk in order else 0,
                                           client_token=tokens.get(res_id, ""), written=written) for inst in members],
        })
    return out


# --------------------------------------------------------------------------- describe
@action("DescribeInstances")
def describe_instances(call: Call) -> dict:
    p = call.params
    ids = check_ids("i", p.list("InstanceId"))
    filters = p.filters(set(instance_filters(call.user)), prefixes=("tag:",))
    max_results = p.int("MaxResults", low=5, high=1000)
    if ids and max_results is not None:
        raise invalid("The parameter instancesSet cannot be used with the parameter maxResults.")
    qs = _with_related(visible(call.user), call.user)
    if ids and not filters and max_results is None:  # the common "describe these" in one query
        rows = sorted(qs.filter(public_id__in=ids).order_by(), key=lambda inst: inst.pk)
        _missing(ids, {inst.public_id for inst in rows})
        return {"reservationSet": reservation_items(call.user, rows)}
    if ids:
        resolve(call, ids, fields=IDENTITY)  # every id must exist
        qs = qs.filter(public_id__in=ids)
    qs = apply(qs, filters, instance_filters(call.user), {"tag:": _tag})
    rows, token = page(qs, max_results=max_results, next_token=p.str("NextToken"))
    return {"reservationSet": reservation_items(call.user, rows), "nextToken": token}


def _status(inst: Instance) -> dict:
    if inst.state != "running":
        return {"status": "not-applicable", "details": []}
    ok = not inst.task and not inst.step
    return {"status": "ok" if ok else "initializing",
            "details": [{"name": "reachability", "status": "passed" if ok else "initializing"}]}


@action("DescribeInstanceStatus")
def describe_instance_status(call: Call) -> dict:
    p = call.params
    ids = check_ids("i", p.list("InstanceId"))
    known = {
        "instance-id": lambda v: match("public_id", v),
        "instance-state-name": lambda v: Q(state__in=_states(v)),
        "instance-state-code": _codes,
        "availability-zone": lambda v: match("availability_zone", v),
    }
    filters = p.filters(set(known))
    qs = visible(call.user)
    if ids:
        resolve(call, ids, fields=IDENTITY)
        qs = qs.filter(public_id__in=ids)
    if not p.bool("IncludeAllInstances"):
        qs = qs.filter(state="running")
    qs = apply(qs, filters, known)
    rows, token = page(qs, max_results=p.int("MaxResults", low=5, high=1000), next_token=p.str("NextToken"))
    return {"instanceStatusSet": [{
        "instanceId": inst.public_id,
        "availabilityZone": inst.availability_zone,
        "instanceState": ec2_state(inst),
        "systemStatus": _status(inst),
        "instanceStatus": _status(inst),
        "eventsSet": [],
    } for inst in rows], "nextToken": token}


# --------------------------------------------------------------------------- power
def _act(call: Call, action_name: str) -> dict:
    """One lifecycle action on every named instance (all or none), EC2's state change list."""
    instances = resolve(call, call.params.list("InstanceId"), fields=IDENTITY)
    if call.params.bool("DryRun"):
        for inst in instances:
            if inst.state not in _done_states(action_name):
                try:
                    transition_check(inst, action_name)
                except SkyportError as exc:
                    raise from_domain(exc, not_found=NOT_FOUND) from None
        call.dry_run()
    try:
        done = instances_action(user=call.user, instances=instances, action=action_name, idempotent=True)
    except SkyportError as exc:
        raise from_domain(exc, not_found=NOT_FOUND) from None
    items = []
    for inst in done:
        previous = EC2_STATE.get(inst.previous_state, inst.previous_state)
        items.append({"instanceId": inst.public_id, "currentState": ec2_state(inst),
                      "previousState": {"code": STATE_CODES[previous], "name": previous}})
    return {"instancesSet": items}


def _done_states(action_name: str) -> frozenset[str]:
    from provisioning.lifecycle import TRANSITIONS

    return TRANSITIONS[action_name].done_states


@action("StartInstances", mutates=True)
def start_instances(call: Call) -> dict:
    return _act(call, "start")


@action("StopInstances", mutates=True)
def stop_instances(call: Call) -> dict:
    return _act(call, "stop")


@action("TerminateInstances", mutates=True)
def terminate_instances(call: Call) -> dict:
    return _act(call, "terminate")


@action("RebootInstances", mutates=True)
def reboot_instances(call: Call) -> dict:
    _act(call, "reboot")
    return {"return": True}


# --------------------------------------------------------------------------- console and password
def _one(call: Call) -> Instance:
    return resolve(call, [call.params.str("InstanceId", required=True)])[0]


@action("GetConsoleOutput")
def get_console_output(call: Call) -> dict:
    inst = _one(call)
    tail = inst.console_log.encode()[-64 * 1024:]  # EC2 returns the last 64 KiB
    return {"instanceId": inst.public_id, "timestamp": inst.updated_at,
            "output": base64.b64encode(tail).decode("ascii")}


@action("GetPasswordData")
def get_password_data(call: Call) -> dict:
    """The generated password encrypted to the instance's RSA key pair (empty when there is none)."""
    inst = _one(call)
    return {"instanceId": inst.public_id, "timestamp": inst.updated_at, "passwordData": inst.password_data}
