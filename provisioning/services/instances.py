"""Instance requests and user actions: the rules every surface (web, REST, EC2) shares.

A request is validated as a whole first (every bad field named at once). Then one transaction
locks the caller's quota row, records the reservation and its instances, places each one and
claims its capacity atomically, and only on commit dispatches the Celery pipeline. If fewer than
`min_count` fit, the transaction rolls back: nothing is left behind, and the refusal (with the
per-filter explanation) is written to the event log.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from .. import driver
from ..choices import InstanceState, TaskState, VirtMode
from ..db import prepared_cursor
from ..exceptions import InsufficientCapacity, InvalidRequest, NotFound, QuotaExceeded
from ..lifecycle import transition_check
from ..models import Appliance, Host, Instance, InstanceType, KeyPair, PlacementGroup, Reservation
from ..placement import PlacementRequest, candidates, explain
from .claims import claim_first, claim_release
from .events import actor_name, event_build, event_record, events_record
from .keypairs import keypair_get, pem_filename
from .pipeline import step_dispatch, step_prepare, step_schedule
from .quotas import quota_shortfall_message, quota_usage
from .security_groups import (
    MAX_RULES,
    MAX_SECURITY_GROUPS,
    RuleSpec,
    security_group_create,
    security_group_default,
    security_groups_resolve,
)

MAX_COUNT = 100
SecurityGroupLink = Instance.security_groups.through
# What placement changes on a freshly inserted instance (saved with update_fields).
PLACED_FIELDS = ["host", "virt_mode", "availability_zone", "private_ip", "hostname", "mac_address", "updated_at"]
NAME_RE = re.compile(r"^[\w .\-]{0,128}$")


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


def appliance_resolve(ref: str) -> Appliance | None:
    ref = str(ref or "").strip()
    if not ref:
        return None
    qs = Appliance.objects.filter(is_public=True)
    return qs.filter(public_id=ref).first() or qs.filter(slug=ref).first()


def _fmt_size(vcpus: int, memory_mib: int, disk_gib: int) -> str:
    return f"{vcpus} vCPU / {memory_mib / 1024:g} GiB memory / {disk_gib} GiB disk"


def instance_type_shortfall(itype: InstanceType, appliance: Appliance) -> list[str]:
    """What `itype` lacks to run `appliance` (empty when it is big enough), e.g. ["2 vCPU"]."""
    short = []
    if itype.vcpus < appliance.min_vcpus:
        short.append(f"{appliance.min_vcpus} vCPU")
    if itype.memory_mib < appliance.min_memory_mib:
        short.append(f"{appliance.min_memory_mib / 1024:g} GiB memory")
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
) -> LaunchSpec:
    """Check every field; raise one InvalidRequest naming each bad field and what to fix."""
    errors: dict[str, list[str]] = {}

    def bad(fieldname: str, msg: str) -> None:
        errors.setdefault(fieldname, []).append(msg)

    app = appliance if isinstance(appliance, Appliance) else appliance_resolve(appliance)
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
                f"{itype.name} ({_fmt_size(itype.vcpus, itype.memory_mib, itype.disk_gib)}) is below what "
                f"{app.name} needs: at least {', '.join(short)}. Pick a larger type.")
    name = (name or "").strip()
    if not NAME_RE.match(name):
        bad("name", "Use at most 128 letters, digits, spaces, dots, dashes and underscores.")
    data_bytes = len((user_data or "").encode("utf-8"))
    limit = settings.SKYPORT_USER_DATA_MAX_BYTES
    if data_bytes > limit:
        bad("user_data", f"User data is {data_bytes} bytes; the limit is {limit // 1024} KiB ({limit} bytes).")
    kp = None
    if key_name:
        try:
            kp = keypair_get(user=user, ref=key_name)
        except NotFound:
            bad("key_name", f"Key pair '{key_name}' does not exist in your account; create or import it first.")
    sg_refs = [str(s).strip() for s in (security_groups or []) if str(s).strip()]
    if len(sg_refs) > MAX_SECURITY_GROUPS:
        bad("security_groups", f"At most {MAX_SECURITY_GROUPS} security groups per instance; you gave {len(sg_refs)}.")
        sg_refs = []
    if new_rules is not None and len(new_rules) > MAX_RULES:
        bad("rules", f"At most {MAX_RULES} rules per security group; you gave {len(new_rules)}.")
    for ref in sg_refs:
        if ref != "default" and not user.security_groups.filter(name=ref).exists() and \
                not user.security_groups.filter(public_id=ref).exists():
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
        group = PlacementGroup.objects.filter(owner=user, name=placement_group).first() or \
            PlacementGroup.objects.filter(owner=user, public_id=placement_group).first()
        if group is None:
            bad("placement_group", f"Placement group '{placement_group}' does not exist in your account.")
    if errors:
        raise InvalidRequest(errors)
    return LaunchSpec(
        appliance=app, instance_type=itype, name=name, key_pair=kp, security_group_refs=sg_refs,
        new_rules=new_rules, user_data=user_data or "", min_count=min_count, max_count=max_count,
        availability_zone=availability_zone or "", virt_mode=virt_mode or "", placement_group=group,
    )


def _allocate_ip(host: Host) -> str | None:
    """Lowest free address in the host's pool (.1-.3 are gateway, DNS and reserved, as in a VPC)."""
    network = ipaddress.IPv4Network(host.network_cidr, strict=False)
    used = set(
        Instance.objects.filter(host=host, private_ip__isnull=False)
        .exclude(state__in=[InstanceState.TERMINATED, InstanceState.ERROR])
        .values_list("private_ip", flat=True)
    )
    for offset, addr in enumerate(network.hosts()):
        if offset < 3:
            continue
        if str(addr) not in used:
            return str(addr)
    return None


# PostgreSQL: the lowest free address of the host's pool, computed and written with the placement
# in one statement. The claim just locked the host row, so no concurrent request places on this
# host before we commit, and this statement's snapshot sees every address taken before.
_PG_PLACE = """
WITH free AS MATERIALIZED (
    SELECT %(first)s::inet + g AS ip FROM generate_series(0, %(n)s - 1) g
    WHERE %(first)s::inet + g <> ALL(ARRAY(
        SELECT i.private_ip FROM provisioning_instance i
        WHERE i.host_id = %(host)s AND i.private_ip IS NOT NULL AND i.state NOT IN ('terminated', 'error')))
    ORDER BY g LIMIT 1
)
UPDATE provisioning_instance SET
    host_id = %(host)s, virt_mode = %(mode)s, availability_zone = %(az)s, mac_address = %(mac)s,
    updated_at = %(now)s, private_ip = free.ip,
    hostname = CASE WHEN %(name_host)s <> '' OR NOT %(ip_host)s THEN %(name_host)s
                    ELSE 'ip-' || replace(host(free.ip), '.', '-') END
FROM free
WHERE provisioning_instance.id = %(id)s
RETURNING host(private_ip), hostname
"""


def _pool(host: Host) -> tuple[str, int]:
    """The host's assignable addresses: the first one and how many (after .1-.3, before broadcast)."""
    network = ipaddress.IPv4Network(host.network_cidr, strict=False)
    first = int(network.network_address) + 4
    last = int(network.broadcast_address) - 1 if network.prefixlen < 31 else int(network.broadcast_address)
    return str(ipaddress.IPv4Address(first)), max(0, last - first + 1)


def _record_placement_pg(inst: Instance, host: Host, virt_mode: str) -> bool:
    """Write host, mode, address and names in one UPDATE; False if the host's pool is full."""
    first, n = _pool(host)
    if n <= 0:
        return False
    mac = driver.mac_for(inst)
    now = timezone.now()
    with prepared_cursor() as cur:
        cur.execute(_PG_PLACE, {
            "host": host.pk, "mode": virt_mode, "az": host.availability_zone, "mac": mac, "now": now,
            "name_host": slugify(inst.name)[:63] if inst.name else "", "ip_host": not inst.name,
            "first": first, "n": n, "id": inst.pk,
        })
        row = cur.fetchone()
    if row is None:
        return False
    inst.host, inst.virt_mode, inst.availability_zone, inst.mac_address = host, virt_mode, host.availability_zone, mac
    inst.private_ip, inst.hostname, inst.updated_at = row[0], row[1], now
    return True


def _record_placement(inst: Instance, host: Host, virt_mode: str) -> bool:
    """Write host, mode, address and names (the portable path); False if the pool is full."""
    ip = _allocate_ip(host)
    if ip is None:
        return False
    inst.host = host
    inst.virt_mode = virt_mode
    inst.availability_zone = host.availability_zone
    inst.private_ip = ip
    inst.hostname = slugify(inst.name)[:63] if inst.name else "ip-" + ip.replace(".", "-")
    inst.mac_address = driver.mac_for(inst)
    inst.save(update_fields=PLACED_FIELDS)
    return True


def instance_place(inst: Instance, req: PlacementRequest) -> bool:
    """Place a saved, unplaced instance: rank the hosts (one query), claim capacity on the best one
    that still has it (one statement), record host, mode and address (one statement). False if no
    host can take it. Runs inside the caller's transaction; this is what `make bench` times."""
    options = {option.host_id: option for option in candidates(req)}
    record = _record_placement_pg if connection.vendor == "postgresql" else _record_placement
    while options:
        # Best first; on PostgreSQL hosts that concurrent requests are claiming are skipped.
        claim = claim_first(instance=inst, host_ids=list(options))
        if claim is None:
            return False  # other requests took the room first
        option = options.pop(claim.host_id)
        if not record(inst, option.host, option.virt_mode):
            claim_release(instance=inst)  # its address pool is full: give the room back, try the next
            continue
        return True
    return False


def reservation_create(*, user, spec: LaunchSpec, actor: str | None = None) -> Reservation:
    """Record, quota-check, place and claim in one transaction; dispatch the pipeline on commit."""
    actor = actor or actor_name(user)
    it = spec.instance_type
    req = PlacementRequest(
        appliance=spec.appliance, instance_type=it, availability_zone=spec.availability_zone,
        virt_mode=spec.virt_mode, placement_group=spec.placement_group,
    )
    try:
        with transaction.atomic():
            usage = quota_usage(user=user, lock=True)
            allowed = usage.fits(vcpus=it.vcpus, memory_mib=it.memory_mib)
            if allowed < spec.min_count:
                raise QuotaExceeded({"quota": quota_shortfall_message(
                    usage, count=spec.min_count, vcpus=it.vcpus, memory_mib=it.memory_mib)})
            groups = security_groups_resolve(user=user, refs=spec.security_group_refs)
            if spec.new_rules is not None:
                stamp = timezone.now().strftime("%Y%m%d-%H%M%S-%f")
                groups.append(security_group_create(
                    user=user, name=f"launch-wizard-{stamp}", description="created with a launch request",
                    rules=spec.new_rules))
            if not groups:
                groups = [security_group_default(user=user)]
            reservation = Reservation.objects.create(owner=user, min_count=spec.min_count, max_count=spec.max_count)
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
                countdown = step_prepare(inst, "copy_image")  # written with the INSERT, sent once placed
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
            # One INSERT each for the groups and the events of every placed instance.
            SecurityGroupLink.objects.bulk_create(links)
            events_record(events)
    except InsufficientCapacity as exc:
        event_record(action="request.refused", owner=user, actor=actor, level="error", message=exc.message,
                     data={"explanation": exc.explanation, "appliance": spec.appliance.public_id,
                           "instance_type": it.name})
        raise
    return reservation


def instance_request_create(*, user, **fields) -> Reservation:
    """Validate and launch in one call (the shape the REST and EC2 surfaces use)."""
    spec = launch_validate(user=user, **fields)
    return reservation_create(user=user, spec=spec)


# --------------------------------------------------------------------------- actions
def instance_action(*, user, instance: Instance, action: str, actor: str | None = None) -> Instance:
    """stop / start / reboot / terminate: check the lifecycle, record, dispatch the pipeline."""
    with transaction.atomic():
        inst = Instance.objects.select_for_update(of=("self",)).select_related("host", "appliance").get(pk=instance.pk)
        if inst.owner_id != user.pk and not user.is_staff:
            raise NotFound(f"Instance {instance.public_id} does not exist.")
        t = transition_check(inst, action)
        inst.state = t.to_state
        inst.task = t.task
        inst.state_reason = ""
        step_schedule(inst, t.step)
        inst.save()
        event_record(action=f"instance.{action}", instance=inst, actor=actor or actor_name(user),
                     message=f"{action.capitalize()} requested")
    return inst


def instance_login_hint(instance: Instance) -> dict:
    """How to log in, without any secret (only `instance_credentials` ever returns the password)."""
    ip = instance.private_ip
    if not ip:
        connect = None
    elif instance.appliance.os_family == "windows":
        connect = f"Remote Desktop to {ip}:3389 as {instance.login_user}"
    elif instance.key_name:
        connect = f"ssh -i {pem_filename(instance.key_name)} {instance.login_user}@{ip}"
    else:
        connect = f"ssh {instance.login_user}@{ip}"
    available = (bool(instance.initial_password) and instance.credentials_shown_at is None
                 and instance.state == InstanceState.RUNNING)
    return {"username": instance.login_user, "connect": connect, "key_name": instance.key_name or None,
            "password_available": available}


def instance_credentials(*, user, instance: Instance) -> dict:
    """Login details. A generated password is returned exactly once, then forgotten."""
    with transaction.atomic():
        inst = Instance.objects.select_for_update(of=("self",)).select_related("appliance").get(pk=instance.pk)
        if inst.owner_id != user.pk:
            raise NotFound(f"Instance {instance.public_id} does not exist.")
        hint = instance_login_hint(inst)
        out = {
            "username": hint["username"],
            "host": inst.private_ip,
            "key_name": hint["key_name"],
            "connect": hint["connect"],
            "password": None,
            "password_already_shown": inst.credentials_shown_at is not None,
        }
        if inst.state == InstanceState.RUNNING and inst.initial_password and inst.credentials_shown_at is None:
            out["password"] = inst.initial_password
            inst.initial_password = ""
            inst.credentials_shown_at = timezone.now()
            inst.save(update_fields=["initial_password", "credentials_shown_at", "updated_at"])
            event_record(action="instance.credentials", instance=inst, actor=actor_name(user),
                         message="Login password shown (once)")
        return out
