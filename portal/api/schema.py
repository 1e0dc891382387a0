"""OpenAPI post-processing: what every operation may answer, written once.

Every call counts against a rate (portal.ratelimit), so every operation documents the 429 and its
Retry-After header.
"""
from __future__ import annotations

THROTTLED = {
    "description": "Over the API rate (SKYPORT_API_RATE per user, SKYPORT_API_ANON_RATE per address without "
                   "credentials); try again after `Retry-After` seconds.",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def add_common_responses(result: dict, generator, request, public) -> dict:
    """POSTPROCESSING_HOOKS entry: a 429 on every operation."""
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                operation.setdefault("responses", {}).setdefault("429", THROTTLED)
    return result
