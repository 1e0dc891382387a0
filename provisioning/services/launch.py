"""Launching instances: the one entry point every surface (web, REST, EC2) calls.

`instance_launch` owns the whole use case. A request is validated as a whole first (every bad
field named at once, the new key pair's included). Then one transaction makes the optional new
key pair, locks the caller's quota row, records the reservation and its instances, places each
one and claims its capacity atomically, and only on commit dispatches the Celery pipeline. If
fewer than `min_count` fit, the transaction rolls back: nothing is left behind (no key pair
either), and the refusal, with the per-filter explanation, is written to the event log once.
With an idempotency key (REST `Idempotency-Key`, EC2 `ClientToken`) a retried request gets the
original reservation back (`services/idempotency.py`).
"""
from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..choices import InstanceState, TaskState, VirtMode
from ..exceptions import AccountInactive, InsufficientCapacity, InvalidRequest, NotFound, QuotaExceeded
from ..models import (
    Appliance,
    Host,
    Instance,
    InstanceTag,
    InstanceType,
    KeyPair,
    PlacementGroup,
    Reservation,
    SecurityGroup,
)
from ..pipeline.engine import step_dispatch, step_prepare
from ..pipeline.instance_steps import LAUNCH_FIRST_STEP
from ..placement import PlacementRequest, explain
from ..selectors import appliance_list, owned_get, ref_lookup
from ..units import mib_label, size_label
from .events import actor_name, event_build, event_record, events_record
from .idempotency import idempotent_reservation
from .keypairs import NewKeyPair, keypair_new, keypair_new_problems
from .place import instance_place
from .quotas import quota_usage
from .security_groups import (
    MAX_RULES,
    MAX_SECURITY_GROUPS,
    RuleSpec,
    security_group_create,
    security_group_default,
    security_groups_resolve,
)
from .tags import tags_validate

MAX_COUNT = 100
SecurityGroupLink = Instance.security_groups.through
NAME_RE = re.compile(r"^[\w .\-]{0,128}$")
# Where the new key pair's problems are reported (its "name" is not the instance's name).
NEW_KEY_FIELDS = {"name": "new_key_name", "key_type": "new_key_type", "public_key": "public_key"}


@dataclass
class LaunchSpec:
    """A validated request: resolved objects, ready to place."""

    appliance: Appliance
    instance_type: InstanceType
    name: str = ""
    key_pair: KeyPair | None = None
    security_group_refs: list[str] = field(default_factory=list)
    new_rules: list[RuleSpec] | None = None
    user_data: str = ""
    min_count: int = 1
    max_count: int = 1
    availability_zone: str = ""
    virt_mode: str = ""
    placement_group: PlacementGroup | None = None
    new_key_pair: NewKeyPair | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LaunchResult:
    """What a launch made. `private_key_pem` is the generated key, returned this once and never stored."""

    reservation: Reservation
    key_pair: KeyPair | None = None
    private_key_pem: str | None = None
    replayed: bool = False
    # What this call wrote, so a surface can answer without reading it back: the placed instances in
    # order (their appliance, type and reservation attached), their security groups and tags. Empty
    # on a replay (the surface reads the original reservation's instances).
    instances: tuple[Instance, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


def instance_type_shortfall(itype: InstanceType, appliance: Appliance) -> list[str]:
    """What `itype` lacks to run `appliance` (empty when it is big enough), e.g. ["2 vCPU"]."""
    short = []
    if itype.vcpus < appliance.min_vcpus:
        short.append(f"{appliance.min_vcpus} vCPU")
    if itype.memory_mib < appliance.min_memory_mib:
        short.append(f"{mib_label(appliance.min_memory_mib, gib_only=True)} memory")
    if itype.disk_gib < appliance.min_disk_gib:
        short.append(f"{appliance.min_disk_gib} GiB disk")
    return short


def launch_validate(
    *,
    user,
    appliance: str | Appliance,
    instance_type: str | InstanceType,
    name: str = "",
    key_name: str = "",
    security_groups: Iterable[str] = (),
    new_rules: list[RuleSpec] | None = None,
    user_data: str = "",
    min_count: int = 1,
    max_count: int = 1,
    availability_zone: str = "",
    virt_mode: str = "",
    placement_group: str = "",
    new_key_pair: NewKeyPair | None = None,
    tags: Mapping[str, str] | None = None,
) -> LaunchSpec:
    """Check every field (the new key pair's too); raise one InvalidRequest naming each bad field.

    Only reads: the web form calls it alone to name every problem when some fields did not parse.
    """
    errors: dict[str, list[str]] = {}

    def bad(fieldname: str, msg: str) -> None:
        errors.setdefault(fieldname, []).append(msg)

    app = appliance if isinstance(appliance, Appliance) else \
        ref_lookup(appliance_list(), str(appliance or "").strip(), alt="slug")
    if app is None:
        bad("appliance", f"No appliance '{appliance}'. Give an ami- id or slug from the marketplace "
                         "(GET /api/v1/appliances/)." if appliance else "Choose an appliance.")
    itype = instance_type if isinstance(instance_type, InstanceType) else \
        InstanceType.objects.filter(name=str(instance_type or "").strip()).first()
    if itype is None:
        names = ", ".join(InstanceType.objects.values_list("name", flat=True)[:20])
        bad("instance_type", f"No instance type '{instance_type}'. Choose one of: {names}."
            if instance_type else "Choose an instance type.")
    if app and itype:
        short = instance_type_shortfall(itype, app)
        if short:
            bad("instance_type",
                f"{itype.name} ({size_label(itype.vcpus, itype.memory_mib, itype.disk_gib)}) is below what "
                f"{app.name} needs: at least {', '.join(short)}. Pick a larger type.")
    name = (name or "").strip()
    if not NAME_RE.match(name):
        bad("name", "Use at most 128 letters, digits, spaces, dots, dashes and underscores.")
    data_bytes = len((user_data or "").encode("utf-8"))
    limit = settings.SKYPORT_USER_DATA_MAX_BYTES
    if data_bytes > limit:
        bad("user_data", f"User data is {data_bytes} bytes; the limit is {limit // 1024} KiB ({limit} bytes).")
    kp = None
    if new_key_pair is not None:
        if key_name:
            bad("key_name", "Use an existing key pair or make a new one, not both.")
        for fieldname, msg in keypair_new_problems(user=user, new=new_key_pair).items():
            bad(NEW_KEY_FIELDS[fieldname], msg)
    if key_name:
        try:
            kp = owned_get(KeyPair, user=user, ref=key_name)
        except NotFound:
            bad("key_name", f"Key pair '{key_name}' does not exist in your account; create or import it first.")
    sg_refs = [str(s).strip() for s in (security_groups or []) if str(s).strip()]
    if len(sg_refs) > MAX_SECURITY_GROUPS:
        bad("security_groups", f"At most {MAX_SECURITY_GROUPS} security groups per instance; you gave {len(sg_refs)}.")
        sg_refs = []
    if new_rules is not None and len(new_rules) > MAX_RULES:
        bad("rules", f"At most {MAX_RULES} rules per security group; you gave {len(new_rules)}.")
    for ref in sg_refs:
        if ref != "default" and ref_lookup(SecurityGroup.objects.filter(owner=user), ref) is None:
            bad("security_groups", f"Security group '{ref}' does not exist in your account.")
    try:
        min_count, max_count = int(min_count), int(max_count)
    except (TypeError, ValueError):
        bad("min_count", "min_count and max_count must be whole numbers.")
        min_count = max_count = 1
    if min_count < 1:
        bad("min_count", "min_count must be at least 1.")
    if max_count < min_count:
        bad("max_count", f"max_count ({max_count}) must be at least min_count ({min_count}).")
    if max_count > MAX_COUNT:
        bad("max_count", f"At most {MAX_COUNT} instances per request.")
    if virt_mode:
        if virt_mode not in VirtMode.values:
            bad("virt_mode", f"Unknown virtualization mode '{virt_mode}'; use one of {', '.join(VirtMode.values)}.")
        elif app and virt_mode not in (app.supported_modes or []):
            bad("virt_mode", f"{app.name} cannot run in {virt_mode} mode; it supports "
                             f"{', '.join(app.supported_modes)}.")
    if availability_zone and not Host.objects.filter(availability_zone=availability_zone).exists():
        zones = ", ".join(sorted(set(Host.objects.values_list("availability_zone", flat=True))))
        bad("availability_zone", f"No availability zone '{availability_zone}'. Choose one of: {zones}.")
    group = None
    if placement_group:
        group = ref_lookup(PlacementGroup.objects.filter(owner=user), placement_group)
        if group is None:
            bad("placement_group", f"Placement group '{placement_group}' does not exist in your account.")
    try:
        tags = tags_validate(tags or {})
    except InvalidRequest as exc:
        for msg in exc.errors["tags"]:
            bad("tags", msg)
    if errors:
        raise InvalidRequest(errors)
    return LaunchSpec(
        appliance=app, instance_type=itype, name=name, key_pair=kp, security_group_refs=sg_refs,
        new_rules=new_rules, user_data=user_data or "", min_count=min_count, max_count=max_count,
        availability_zone=availability_zone or "", virt_mode=virt_mode or "", placement_group=group,
        new_key_pair=new_key_pair, tags=tags,
    )



def reservation_create(*, user, spec: LaunchSpec, actor: str | None = None, made: dict | None = None) -> Reservation:
    """Record, quota-check, place and claim in one transaction; dispatch the pipeline on commit.

    The transaction body of `instance_launch` (which surfaces call): it writes no refusal event.
    Kept public for the benchmark and the query-count test, which time exactly this. `made`, when
    given, receives the placed instances and their security groups ("placed", "groups").
    """
    if not user.is_active:
        raise AccountInactive("This account is not active (it awaits an operator's approval, or was switched "
                              "off), so it cannot launch instances.")
    actor = actor or actor_name(user)
    it = spec.instance_type
    req = PlacementRequest(
        appliance=spec.appliance, instance_type=it, availability_zone=spec.availability_zone,
        virt_mode=spec.virt_mode, placement_group=spec.placement_group,
    )
    with transaction.atomic():
        # What needs no quota lock comes first: the caller's quota row lock serialises their launches, so it is
        # taken as late as it can be and held only through the quota check, the placement and the writes.
        groups = security_groups_resolve(user=user, refs=spec.security_group_refs)
        if spec.new_rules is not None:
            stamp = timezone.now().strftime("%Y%m%d-%H%M%S-%f")
            groups.append(security_group_create(
                user=user, name=f"launch-wizard-{stamp}", description="created with a launch request",
                rules=spec.new_rules))
        if not groups:
            groups = [security_group_default(user=user)]
        reservation = Reservation.objects.create(owner=user, min_count=spec.min_count, max_count=spec.max_count)
        check = quota_usage(user=user, lock=True).check(
            count=spec.min_count, vcpus=it.vcpus, memory_mib=it.memory_mib)
        if check.exceeds:
            raise QuotaExceeded({"quota": check.message})
        allowed = check.fits
        placed: list[Instance] = []
        links: list = []
        events: list = []
        for index in range(min(spec.max_count, allowed)):
            name = spec.name if spec.max_count == 1 or not spec.name else f"{spec.name}-{index + 1}"
            inst = Instance(
                owner=user, reservation=reservation, name=name, appliance=spec.appliance, instance_type=it,
                key_pair=spec.key_pair, key_name=spec.key_pair.name if spec.key_pair else "",
                placement_group=spec.placement_group, user_data=spec.user_data,
                state=InstanceState.PENDING, task=TaskState.SCHEDULING,
                login_user=spec.appliance.default_user,
            )
            countdown = step_prepare(inst, LAUNCH_FIRST_STEP)  # written with the INSERT, sent once placed
            inst.save(force_insert=True)
            if not instance_place(inst, req):
                inst.delete()
                break
            links += [SecurityGroupLink(instance_id=inst.pk, securitygroup_id=g.pk) for g in groups]
            events.append(event_build(action="instance.request", instance=inst, actor=actor,
                                      message=f"Requested {spec.appliance.name} as {it.name}"))
            events.append(event_build(action="instance.scheduled", instance=inst,
                                      message=f"Placed on {inst.host.name} ({inst.availability_zone}) in "
                                              f"{inst.virt_mode.replace('_', '-')} mode; capacity claimed"))
            step_dispatch(inst, countdown)
            placed.append(inst)
        if len(placed) < spec.min_count:
            why = explain(req)
            if placed:
                why["message"] = (f"Only {len(placed)} of the minimum {spec.min_count} instances fit. "
                                  + why["message"])
            raise InsufficientCapacity(why["message"], explanation=why)
        # One INSERT each for the groups, the tags and the events of every placed instance.
        SecurityGroupLink.objects.bulk_create(links)
        if spec.tags:
            InstanceTag.objects.bulk_create(InstanceTag(instance_id=inst.pk, key=k, value=v)
                                            for inst in placed for k, v in spec.tags.items())
        events_record(events)
    if made is not None:
        made.update(placed=tuple(placed), groups=tuple(groups))
    return reservation


def _canonical(value):
    """JSON-able form of a launch field, for the idempotency fingerprint."""
    if isinstance(value, (Appliance, InstanceType)):
        return value.public_id if isinstance(value, Appliance) else value.name
    if is_dataclass(value):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def launch_fingerprint(*, new_key_pair: NewKeyPair | None = None, **fields) -> dict:
    """The request as the service reads it (every parameter, defaults filled in): what an idempotency
    key is bound to, so the same request from any surface matches however its body was spelled."""
    params = inspect.signature(launch_validate).parameters
    body = {name: _canonical(fields.get(name, p.default)) for name, p in params.items() if name != "user"}
    body["new_key_pair"] = _canonical(new_key_pair)
    return body


def instance_launch(
    *,
    user,
    actor: str | None = None,
    new_key_pair: NewKeyPair | None = None,
    idempotency_key: str | None = None,
    idempotency_scope: str = "launch",
    **fields,
) -> LaunchResult:
    """Validate, make the optional new key pair, launch; refuse with one event. The one launch call.

    `fields` are `launch_validate`'s keyword arguments. With `idempotency_key` (None: none sent), a
    repeat of the same request by the same user in the same scope returns the original reservation
    (`replayed=True`, without the private key, which is never stored); the same key with another
    request raises IdempotencyConflict. Raises InvalidRequest, QuotaExceeded, InsufficientCapacity.
    """
    actor = actor or actor_name(user)
    made: dict = {}

    def create() -> Reservation:
        spec = made["spec"] = launch_validate(user=user, new_key_pair=new_key_pair, **fields)
        if new_key_pair is None:
            return reservation_create(user=user, spec=spec, actor=actor, made=made)
        with transaction.atomic():
            try:
                created = keypair_new(user=user, new=new_key_pair)
            except InvalidRequest as exc:  # a racing request took the name meanwhile
                raise InvalidRequest({NEW_KEY_FIELDS.get(f, f): m for f, m in exc.errors.items()}) from exc
            spec.key_pair = created.key_pair
            reservation = reservation_create(user=user, spec=spec, actor=actor, made=made)
        made["key"] = created
        return reservation

    try:
        if idempotency_key is None:
            reservation, replayed = create(), False
        else:
            body = launch_fingerprint(new_key_pair=new_key_pair, **fields)
            reservation, replayed = idempotent_reservation(
                user=user, key=idempotency_key, scope=idempotency_scope, body=body, create=create)
    except InsufficientCapacity as exc:
        # Written after the rollback, so it stays: the one record of the refusal.
        spec = made["spec"]
        event_record(action="request.refused", owner=user, actor=actor, level="error", message=exc.message,
                     data={"explanation": exc.explanation, "appliance": spec.appliance.public_id,
                           "instance_type": spec.instance_type.name})
        raise
    created = made.get("key")
    fresh = not replayed and "placed" in made
    return LaunchResult(reservation=reservation, key_pair=created.key_pair if created else None,
                        private_key_pem=(created.private_key_pem or None) if created else None, replayed=replayed,
                        instances=made["placed"] if fresh else (), security_groups=made["groups"] if fresh else (),
                        tags=dict(made["spec"].tags) if fresh else {})
