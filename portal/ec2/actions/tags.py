"""Tags: CreateTags, DeleteTags, DescribeTags (instances are the taggable resources)."""
from __future__ import annotations

from provisioning.exceptions import SkyportError
from provisioning.services.tags import tag_list, tags_delete, tags_set

from ..errors import from_domain, invalid
from ..filters import apply, match, page
from . import Call, action
from .instances import resolve


def _resources(call: Call):
    ids = call.params.list("ResourceId")
    others = [r for r in ids if not r.startswith("i-")]
    if others:
        raise invalid(f"Only instances (i-...) can be tagged in Skyport; '{others[0]}' is not an instance.")
    return resolve(call, ids, name="ResourceId")


@action("CreateTags", mutates=True)
def create_tags(call: Call) -> dict:
    instances = _resources(call)
    tags = call.params.tags()
    if not tags:
        raise invalid("Give at least one tag (Tag.N.Key, Tag.N.Value).")
    call.dry_run()
    try:
        tags_set(user=call.user, instances=instances, tags=tags)
    except SkyportError as exc:
        raise from_domain(exc) from None
    return {"return": True}


@action("DeleteTags", mutates=True)
def delete_tags(call: Call) -> dict:
    instances = _resources(call)
    tags = call.params.tags(values_required=False)
    call.dry_run()
    if not tags:  # EC2: no Tag given removes every tag of the resources
        tags = {t.key: None for t in tag_list(user=call.user).filter(instance__in=instances)}
    tags_delete(user=call.user, instances=instances, tags=tags)
    return {"return": True}


@action("DescribeTags")
def describe_tags(call: Call) -> dict:
    p = call.params
    known = {
        "key": lambda v: match("key", v),
        "value": lambda v: match("value", v),
        "resource-id": lambda v: match("instance__public_id", v),
        "resource-type": lambda v: match("instance__pk", []) if "instance" not in v else match("key", ["*"]),
    }
    qs = apply(tag_list(user=call.user), p.filters(set(known)), known)
    rows, token = page(qs, max_results=p.int("MaxResults", low=5, high=1000), next_token=p.str("NextToken"))
    return {"tagSet": [{"resourceId": t.instance.public_id, "resourceType": "instance", "key": t.key,
                        "value": t.value} for t in rows], "nextToken": token}
