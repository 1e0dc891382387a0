"""EC2 filters (`Filter.N.Name` / `Value.M`, with `*` and `?` wildcards) as ORM conditions, and
NextToken pagination over a queryset in primary-key order."""
from __future__ import annotations

import base64
import re
from collections.abc import Callable

from django.db.models import Q, QuerySet

from .errors import invalid


def _wild(value: str) -> bool:
    return "*" in value or "?" in value


def _regex(value: str) -> str:
    """EC2's wildcard pattern as an anchored regular expression (`\\*` is a literal star)."""
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            out.append(re.escape(value[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
        i += 1
    return "^" + "".join(out) + "$"


def match(field: str, values: list[str]) -> Q:
    """`field` equals any of `values` (wildcards allowed)."""
    exact = [v for v in values if not _wild(v)]
    q = Q(**{f"{field}__in": exact}) if exact else Q(pk__in=[])
    for value in values:
        if _wild(value):
            q |= Q(**{f"{field}__regex": _regex(value)})
    return q


FilterMap = dict[str, Callable[[list[str]], Q]]


def apply(qs: QuerySet, filters: list[tuple[str, list[str]]], known: FilterMap,
          prefixed: dict[str, Callable[[str, list[str]], Q]] | None = None) -> QuerySet:
    """AND across filters, OR across one filter's values, as EC2 does."""
    for name, values in filters:
        if not values:
            raise invalid(f"Filter {name} needs at least one value (Filter.N.Value.1).")
        if name in known:
            qs = qs.filter(known[name](values))
            continue
        for prefix, build in (prefixed or {}).items():
            if name.startswith(prefix):
                qs = qs.filter(build(name[len(prefix):], values))
                break
        else:  # Params.filters() refuses unknown names first; this keeps apply() safe on its own
            raise invalid(f"The filter '{name}' is invalid.")
    return qs


def page(qs: QuerySet, *, max_results: int | None, next_token: str) -> tuple[list, str | None]:
    """One page in primary-key order and the token for the next (None when this was the last)."""
    qs = qs.order_by("pk")
    if next_token:
        try:
            after = int(base64.urlsafe_b64decode(next_token.encode() + b"==").decode())
        except (ValueError, UnicodeDecodeError):
            raise invalid(f"Invalid NextToken '{next_token[:40]}': pass the NextToken of the previous page as "
                          "it was.") from None
        qs = qs.filter(pk__gt=after)
    if max_results is None:
        return list(qs), None
    rows = list(qs[: max_results + 1])
    if len(rows) <= max_results:
        return rows, None
    rows = rows[:max_results]
    return rows, base64.urlsafe_b64encode(str(rows[-1].pk).encode()).decode().rstrip("=")
