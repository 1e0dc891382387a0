"""Security groups: Create/Describe/DeleteSecurityGroup, Authorize/RevokeSecurityGroupIngress."""
from __future__ import annotations

from provisioning.exceptions import InvalidRequest, NotFound, SkyportError
from provisioning.models import SecurityGroup
from provisioning.selectors import security_group_list
from provisioning.services.security_groups import (
    RuleSpec,
    rule_parse,
    security_group_create,
    security_group_delete,
    security_group_get,
    security_group_rules_add,
    security_group_rules_remove,
)

from ..errors import Ec2Error, from_domain, invalid
from ..filters import apply, match, page
from ..params import check_ids
from . import Call, action

VPC_ID = "vpc-skyport"  # one flat network per tenant: every group belongs to it


def _group(call: Call) -> SecurityGroup:
    p = call.params
    group_id, name = p.str("GroupId"), p.str("GroupName")
    if not group_id and not name:
        raise Ec2Error("MissingParameter", "The request must contain the parameter GroupId or GroupName.")
    if group_id:
        check_ids("sg", [group_id])
    try:
        return security_group_get(user=call.user, ref=group_id or name)
    except NotFound:
        raise Ec2Error("InvalidGroup.NotFound", f"The security group '{group_id or name}' does not exist") from None


def _ranges(perm: dict) -> list[str]:
    ranges = perm.get("IpRanges", [])
    if isinstance(ranges, str) or not all(isinstance(r, dict) for r in ranges):
        raise invalid("IpPermissions.N.IpRanges is a list: IpPermissions.N.IpRanges.M.CidrIp.")
    return [(r.get("CidrIp", ""), r.get("Description", "")) for r in ranges]


def _rules(call: Call) -> list[RuleSpec]:
    """IpPermissions.N (or the legacy IpProtocol/FromPort/ToPort/CidrIp) as rules, one per CIDR."""
    p = call.params
    perms = p.structs("IpPermissions")
    if not perms and p.str("IpProtocol"):
        perms = [{"IpProtocol": p.str("IpProtocol"), "FromPort": p.str("FromPort"), "ToPort": p.str("ToPort"),
                  "IpRanges": [{"CidrIp": p.str("CidrIp", default="0.0.0.0/0")}]}]
    if not perms:
        raise Ec2Error("MissingParameter", "The request must contain the parameter IpPermissions.")
    rules = []
    for n, perm in enumerate(perms, start=1):
        protocol = perm.get("IpProtocol")
        if not protocol:
            raise Ec2Error("MissingParameter", f"IpPermissions.{n}.IpProtocol is missing.")
        if perm.get("UserIdGroupPairs") or perm.get("Ipv6Ranges") or perm.get("PrefixListIds"):
            raise invalid("Only IPv4 CIDR ranges (IpRanges) are supported in rules.")
        ranges = _ranges(perm)
        if not ranges:
            raise Ec2Error("MissingParameter", f"IpPermissions.{n}.IpRanges is missing (give a CidrIp).")
        for cidr, description in ranges:
            raw = {"protocol": protocol, "cidr": cidr or "0.0.0.0/0", "description": description}
            if perm.get("FromPort") not in (None, ""):
                raw["from_port"] = perm["FromPort"]
            if perm.get("ToPort") not in (None, ""):
                raw["to_port"] = perm["ToPort"]
            try:
                rules.append(rule_parse(raw, field="IpPermissions", index=n))
            except InvalidRequest as exc:
                raise invalid(exc.message) from None
    return rules


def group_item(group: SecurityGroup, account: str) -> dict:
    perms: dict[tuple, dict] = {}
    for rule in group.rules.all():
        key = (rule.protocol, rule.from_port, rule.to_port)
        perm = perms.setdefault(key, {"ipProtocol": rule.protocol, "fromPort": None if rule.protocol == "-1" else
                                      rule.from_port, "toPort": None if rule.protocol == "-1" else rule.to_port,
                                      "groups": [], "ipRanges": [], "ipv6Ranges": [], "prefixListIds": []})
        perm["ipRanges"].append({"cidrIp": rule.cidr, "description": rule.description or None})
    return {"ownerId": account, "groupId": group.public_id, "groupName": group.name,
            "groupDescription": group.description, "vpcId": VPC_ID, "ipPermissions": list(perms.values()),
            "ipPermissionsEgress": [{"ipProtocol": "-1", "groups": [], "ipRanges": [{"cidrIp": "0.0.0.0/0"}],
                                     "ipv6Ranges": [], "prefixListIds": []}], "tagSet": []}


@action("CreateSecurityGroup", mutates=True)
def create_security_group(call: Call) -> dict:
    p = call.params
    name = p.str("GroupName", required=True)
    description = p.str("GroupDescription", required=True)
    if security_group_list(user=call.user).filter(name=name).exists():
        raise Ec2Error("InvalidGroup.Duplicate", f"The security group '{name}' already exists")
    call.dry_run()
    try:
        group = security_group_create(user=call.user, name=name, description=description)
    except SkyportError as exc:
        raise from_domain(exc, fields={"name": "InvalidGroup.Duplicate" if "already" in exc.message
                                       else "InvalidParameterValue"}) from None
    return {"return": True, "groupId": group.public_id, "tagSet": []}


@action("DescribeSecurityGroups")
def describe_security_groups(call: Call) -> dict:
    p = call.params
    ids = check_ids("sg", p.list("GroupId"))
    names = p.list("GroupName")
    known = {
        "group-id": lambda v: match("public_id", v),
        "group-name": lambda v: match("name", v),
        "description": lambda v: match("description", v),
    }
    filters = p.filters(set(known) | {"vpc-id"})
    filters = [(n, v) for n, v in filters if not (n == "vpc-id" and VPC_ID in v)]
    if any(n == "vpc-id" for n, _ in filters):
        return {"securityGroupInfo": []}
    qs = security_group_list(user=call.user)
    if ids or names:
        have = list(qs.filter(public_id__in=ids).values_list("public_id", flat=True)) + \
            list(qs.filter(name__in=names).values_list("name", flat=True))
        missing = [r for r in ids + names if r not in have]
        if missing:
            raise Ec2Error("InvalidGroup.NotFound", f"The security group '{missing[0]}' does not exist")
        from django.db.models import Q

        qs = qs.filter(Q(public_id__in=ids) | Q(name__in=names))
    rows, token = page(apply(qs, filters, known), max_results=p.int("MaxResults", low=5, high=1000),
                       next_token=p.str("NextToken"))
    return {"securityGroupInfo": [group_item(g, call.account_id) for g in rows], "nextToken": token}


@action("DeleteSecurityGroup", mutates=True)
def delete_security_group(call: Call) -> dict:
    group = _group(call)
    call.dry_run()
    try:
        security_group_delete(user=call.user, group=group)
    except SkyportError as exc:
        raise from_domain(exc, not_found="InvalidGroup.NotFound") from None
    return {"return": True, "groupId": group.public_id}


@action("AuthorizeSecurityGroupIngress", mutates=True)
def authorize_security_group_ingress(call: Call) -> dict:
    group = _group(call)
    rules = _rules(call)
    call.dry_run()
    try:
        security_group_rules_add(user=call.user, group=group, rules=rules)
    except SkyportError as exc:
        raise from_domain(exc, not_found="InvalidGroup.NotFound") from None
    return {"return": True}


@action("RevokeSecurityGroupIngress", mutates=True)
def revoke_security_group_ingress(call: Call) -> dict:
    group = _group(call)
    rules = _rules(call)
    call.dry_run()
    try:
        security_group_rules_remove(user=call.user, group=group, rules=rules)
    except SkyportError as exc:
        raise from_domain(exc, not_found="InvalidGroup.NotFound") from None
    return {"return": True}
