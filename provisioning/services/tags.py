"""Instance tags (EC2's key/value tags): set, remove, list; the caller's own instances only."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import transaction
from django.db.models import QuerySet

from ..exceptions import InvalidRequest
from ..models import Instance, InstanceTag
from .events import actor_name, event_record

MAX_TAGS = 50  # per instance, as EC2
KEY_MAX, VALUE_MAX = 128, 256


def tags_validate(tags: Mapping[str, str], *, field: str = "tags") -> dict[str, str]:
    """Check keys and values as EC2 does; one InvalidRequest naming the first bad tag."""
    out: dict[str, str] = {}
    for key, value in tags.items():
        key, value = str(key), "" if value is None else str(value)
        if not key.strip():
            raise InvalidRequest({field: "A tag key cannot be empty."})
        if len(key) > KEY_MAX:
            raise InvalidRequest({field: f"Tag key '{key[:40]}…' is {len(key)} characters; the limit is {KEY_MAX}."})
        if len(value) > VALUE_MAX:
            raise InvalidRequest({field: f"The value of tag '{key}' is {len(value)} characters; the limit is "
                                         f"{VALUE_MAX}."})
        if key.lower().startswith("aws:"):
            raise InvalidRequest({field: f"Tag keys starting with 'aws:' are reserved ('{key}')."})
        if "\x00" in key or "\x00" in value:
            raise InvalidRequest({field: "Tags cannot contain NUL characters."})
        out[key] = value
    if len(out) > MAX_TAGS:
        raise InvalidRequest({field: f"At most {MAX_TAGS} tags per instance; you gave {len(out)}."})
    return out


def tags_set(*, user, instances: Iterable[Instance], tags: Mapping[str, str]) -> None:
    """Add or overwrite tags on the caller's instances, all or none."""
    tags = tags_validate(tags)
    instances = list(instances)
    if any(inst.owner_id != user.pk for inst in instances):
        raise InvalidRequest({"resources": "Only your own instances can be tagged."})
    with transaction.atomic():
        ids = [inst.pk for inst in instances]
        have = set(InstanceTag.objects.filter(instance_id__in=ids).values_list("instance_id", "key"))
        for inst in instances:
            keys = {k for (i, k) in have if i == inst.pk} | set(tags)
            if len(keys) > MAX_TAGS:
                raise InvalidRequest({"tags": f"{inst.public_id} would have {len(keys)} tags; the limit is "
                                              f"{MAX_TAGS}."})
        for key, value in tags.items():
            InstanceTag.objects.filter(instance_id__in=ids, key=key).exclude(value=value).update(value=value)
        InstanceTag.objects.bulk_create(
            [InstanceTag(instance_id=i, key=k, value=v) for i in ids for k, v in tags.items() if (i, k) not in have])
        if instances and tags:
            event_record(action="tags.set", owner=user, actor=actor_name(user),
                         message=f"Tagged {', '.join(inst.public_id for inst in instances[:5])}"
                                 f"{' …' if len(instances) > 5 else ''}: {', '.join(sorted(tags))}")


def tags_delete(*, user, instances: Iterable[Instance], tags: Mapping[str, str | None]) -> int:
    """Remove tags by key (value None: whatever its value; else only with that value). Missing ones are
    no error (EC2 neither). Returns how many were removed."""
    instances = list(instances)
    if any(inst.owner_id != user.pk for inst in instances):
        raise InvalidRequest({"resources": "Only your own instances can be untagged."})
    removed = 0
    with transaction.atomic():
        qs = InstanceTag.objects.filter(instance_id__in=[inst.pk for inst in instances])
        for key, value in tags.items():
            doomed = qs.filter(key=key) if value is None else qs.filter(key=key, value=value)
            removed += doomed.delete()[0]
        if removed:
            event_record(action="tags.delete", owner=user, actor=actor_name(user),
                         message=f"Removed {removed} tag(s) from {', '.join(i.public_id for i in instances[:5])}")
    return removed


def tag_list(*, user) -> QuerySet[InstanceTag]:
    return InstanceTag.objects.filter(instance__owner=user).select_related("instance").order_by(
        "instance__public_id", "key")
