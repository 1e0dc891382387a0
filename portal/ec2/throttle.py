"""Per-access-key rate limit (EC2's RequestLimitExceeded) at the REST API's rate, SKYPORT_API_RATE."""
from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class AccessKeyRateThrottle(SimpleRateThrottle):
    """DRF's throttle machinery, keyed by the access key instead of the user or address."""

    scope = "ec2"

    def __init__(self, access_key_id: str):
        self.access_key_id = access_key_id
        super().__init__()

    def get_rate(self) -> str:
        return settings.SKYPORT_API_RATE

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.access_key_id}


def request_limit_wait(access_key_id: str) -> float | None:
    """None to go on, or the seconds until this key may call again."""
    throttle = AccessKeyRateThrottle(access_key_id)
    if throttle.allow_request(None, None):
        return None
    return throttle.wait() or 1.0
