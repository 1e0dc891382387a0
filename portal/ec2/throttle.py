"""Per-access-key rate limit (EC2's RequestLimitExceeded) at the REST API's rate, SKYPORT_API_RATE.

Counted by `portal.ratelimit` (the REST API's counter: atomic in the shared cache, let through when
the cache is unreachable), keyed by the access key instead of the user or address.
"""
from __future__ import annotations

from django.conf import settings

from portal.ratelimit import hit


def request_limit_wait(access_key_id: str) -> float | None:
    """None to go on, or the seconds until this key may call again."""
    return hit(f"ec2:{access_key_id}", settings.SKYPORT_API_RATE)
