"""Security groups: named sets of ingress rules applied on the guest's vSwitch port."""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from ..choices import LIVE_STATES
from ..exceptions import InvalidRequest, InvalidState, NotFound
from ..models import SecurityGroup, SecurityGroupRule
from ..selectors import owned_get, ref_lookup
from .events import actor_name, event_record
from .names import NAME_RE, NAME_RULE

PROTOCOLS = ("tcp", "udp", "icmp", "-1")
MAX_RULES = 60  # inbound rules per security group (EC2's default limit)
MAX_SECURITY_GROUPS = 16  # security groups per instance


@dataclass(frozen=True)
class RuleSpec:
    protocol: str
    from_port: int
    to_port: int
    cidr: str
    description: str = ""


def rule_parse(raw: dict, *, field: str = "rules", index: int = 0) -> RuleSpec:
    """Validate one ingress rule given as a dict (from a form, JSON or EC2 IpPermissions)."""
    where = f"{field}[{index}]"
    protocol = str(raw.get("protocol", "tcp")).lower().strip()
    if protocol in ("all", "any"):
        protocol = "-1"
    if protocol not in PROTOCOLS:
        raise InvalidRequest({field: f"{where}: protocol must be tcp, udp, icmp or -1 (all), not '{protocol}'."})
    cidr = str(raw.get("cidr", "0.0.0.0/0")).strip()
    try:
        cidr = str(ipaddress.IPv4Network(cidr, strict=False))
    except ValueError as exc:
        raise InvalidRequest({field: f"{where}: '{cidr}' is not an IPv4 CIDR such as 203.0.113.0/24."}) from exc
    if protocol in ("icmp", "-1"):
        return RuleSpec(protocol, -1, -1, cidr, str(raw.get("description", ""))[:255])
    try:
        from_port = int(raw.get("from_port", raw.get("port", 22)))
        to_port = int(raw.get("to_port", from_port))
    except (TypeError, ValueError) as exc:
        raise InvalidRequest({field: f"{where}: ports must be whole numbers between 0 and 65535."}) from exc
    if not (0 <= from_port <= 65535 and 0 <= to_port <= 65535):
        raise InvalidRequest({field: f"{where}: ports must be between 0 and 65535."})
    if from_port > to_port:
        raise InvalidRequest({field: f"{where}: from_port {from_port} is above to_port {to_port}."})
    return RuleSpec(protocol, from_port, to_port, cidr, str(raw.get("description", ""))[:255])


def security_group_create(*, user, name: str, description: str = "", rules: Iterable[RuleSpec] = ()) -> SecurityGroup:
    name = (name or "").strip()
    if not name:
        raise InvalidRequest({"name": "Give the security group a name."})
    if not NAME_RE.match(name):
        raise InvalidRequest({"name": NAME_RULE})
    if SecurityGroup.objects.filter(owner=user, name=name).exists():
        raise InvalidRequest({"name": f"You already have a security group named '{name}'; choose another name."})
    rules = list(rules)
    if len(rules) > MAX_RULES:
        raise InvalidRequest({"rules": f"At most {MAX_RULES} rules per security group; this one has {len(rules)}."})
    with transaction.atomic():
        try:
            with transaction.atomic():
                group = SecurityGroup.objects.create(owner=user, name=name, description=description[:255])
        except IntegrityError as exc:  # a racing request took the name after the check above
            raise InvalidRequest({"name": f"You already have a security group named '{name}'; choose another "
                                          "name."}) from exc
        SecurityGroupRule.objects.bulk_create(
            SecurityGroupRule(group=group, protocol=r.protocol, from_port=r.from_port, to_port=r.to_port,
                              cidr=r.cidr, description=r.description)
            for r in rules
        )
        event_record(action="security_group.create", message=f"Security group {name} created",
                     owner=user, actor=actor_name(user))
    return group


def security_group_default(*, user) -> SecurityGroup:
    """Each user's `default` group: SSH (22) and RDP (3389) from anywhere, like a launch wizard's."""
    group = SecurityGroup.objects.filter(owner=user, name="default").first()
    if group is not None:
        return group
    try:
        return security_group_create(
            user=user, name="default", description="default group: SSH and RDP from anywhere",
            rules=[RuleSpec("tcp", 22, 22, "0.0.0.0/0", "SSH"), RuleSpec("tcp", 3389, 3389, "0.0.0.0/0", "RDP")],
        )
    except InvalidRequest:  # the user's first launches race: another one made it meanwhile (and committed)
        group = SecurityGroup.objects.filter(owner=user, name="default").first()
        if group is None:
            raise
        return group


def security_groups_resolve(*, user, refs: Iterable[str], field: str = "security_groups") -> list[SecurityGroup]:
    """Names or sg- ids of the caller's own groups; an unknown one is a 400 naming it."""
    groups: list[SecurityGroup] = []
    for ref in refs:
        ref = str(ref).strip()
        if not ref:
            continue
        group = ref_lookup(SecurityGroup.objects.filter(owner=user), ref)
        if group is None:
            if ref == "default":
                group = security_group_default(user=user)
            else:
                raise InvalidRequest({field: f"Security group '{ref}' does not exist in your account."})
        if group not in groups:
            groups.append(group)
    return groups


def security_group_get(*, user, ref: str) -> SecurityGroup:
    """By name or sg- id, only the caller's own (`owned_get` for security groups)."""
    return owned_get(SecurityGroup, user=user, ref=ref)


def security_group_delete(*, user, group: SecurityGroup) -> None:
    """Refuse to delete `default` or a group that live instances use (EC2: DependencyViolation)."""
    if group.owner_id != user.pk:
        raise NotFound(f"Security group '{group.name}' does not exist.")
    if group.name == "default":
        raise InvalidState("The default security group cannot be deleted; change or replace its rules instead.",
                           code="reserved")
    in_use = list(group.instances.filter(state__in=LIVE_STATES).values_list("public_id", flat=True)[:5])
    if in_use:
        raise InvalidState(f"Security group {group.name} is in use by {', '.join(in_use)}; terminate those "
                           "instances first.", code="in_use")
    with transaction.atomic():
        group.delete()
        event_record(action="security_group.delete", message=f"Security group {group.name} deleted",
                     owner=user, actor=actor_name(user))


def _rule_key(rule) -> tuple:
    return (rule.protocol, rule.from_port, rule.to_port, rule.cidr)


def security_group_rules_add(*, user, group: SecurityGroup, rules: Iterable[RuleSpec]) -> int:
    """Add ingress rules to a group (they apply to instances booted from now on); all or none.

    A rule the group already has is refused (code `duplicate_rule`), as is going past MAX_RULES.
    """
    if group.owner_id != user.pk:
        raise NotFound(f"Security group '{group.name}' does not exist.")
    rules = list(rules)
    with transaction.atomic():
        group = SecurityGroup.objects.select_for_update().get(pk=group.pk)
        have = {_rule_key(r) for r in group.rules.all()}
        for rule in rules:
            if _rule_key(rule) in have:
                raise InvalidRequest({"rules": f"Security group {group.name} already allows {rule.protocol} "
                                               f"{rule.from_port}-{rule.to_port} from {rule.cidr}."},
                                     code="duplicate_rule")
            have.add(_rule_key(rule))
        if len(have) > MAX_RULES:
            raise InvalidRequest({"rules": f"At most {MAX_RULES} rules per security group; this would make "
                                           f"{len(have)}."}, code="rules_limit")
        SecurityGroupRule.objects.bulk_create(
            SecurityGroupRule(group=group, protocol=r.protocol, from_port=r.from_port, to_port=r.to_port,
                              cidr=r.cidr, description=r.description) for r in rules)
        event_record(action="security_group.authorize", owner=user, actor=actor_name(user),
                     message=f"Security group {group.name}: {len(rules)} ingress rule(s) added")
    return len(rules)


def security_group_rules_remove(*, user, group: SecurityGroup, rules: Iterable[RuleSpec]) -> int:
    """Remove ingress rules from a group; all or none. A rule it does not have: NotFound (`rule_not_found`)."""
    if group.owner_id != user.pk:
        raise NotFound(f"Security group '{group.name}' does not exist.")
    rules = list(rules)
    with transaction.atomic():
        group = SecurityGroup.objects.select_for_update().get(pk=group.pk)
        by_key = {_rule_key(r): r.pk for r in group.rules.all()}
        doomed = []
        for rule in rules:
            pk = by_key.get(_rule_key(rule))
            if pk is None:
                raise NotFound(f"Security group {group.name} has no rule allowing {rule.protocol} "
                               f"{rule.from_port}-{rule.to_port} from {rule.cidr}.", code="rule_not_found")
            doomed.append(pk)
        SecurityGroupRule.objects.filter(pk__in=doomed).delete()
        event_record(action="security_group.revoke", owner=user, actor=actor_name(user),
                     message=f"Security group {group.name}: {len(doomed)} ingress rule(s) removed")
    return len(doomed)
