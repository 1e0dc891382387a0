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


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _paginated(operation: dict) -> bool:
    ok = operation.get("responses", {}).get("200", {})
    ref = ok.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    return ref.rsplit("/", 1)[-1].startswith("Paginated")


def add_common_responses(result: dict, generator, request, public) -> dict:
    """POSTPROCESSING_HOOKS entry: a 429 on every operation; a 400 on every write and every paginated list
    (a `page_size` that is not a number from 1 to 100), a 404 on every paginated list (a page past the end),
    a 414 on every operation (gunicorn refuses a request line over 4094 bytes before Django sees it)."""
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            responses.setdefault("429", THROTTLED)
            responses.setdefault("414", {"description": "The URL is too long (over 4094 bytes with the method)."})
            if method in {"post", "put", "patch"}:
                responses.setdefault("400", _error("Invalid input: one key per bad field, each saying what to fix."))
            if method == "get" and _paginated(operation):
                responses.setdefault("400", _error("A `page_size` that is not a whole number from 1 to 100."))
                responses.setdefault("404", _error("No such page (past the last one)."))
    return result
