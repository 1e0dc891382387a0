"""The REST API's throttle: 429 with Retry-After above SKYPORT_API_RATE (portal.ratelimit counts)."""
from __future__ import annotations

import math

from rest_framework.throttling import BaseThrottle

from portal.ratelimit import rate_limit_wait


class ApiRateThrottle(BaseThrottle):
    """DRF DEFAULT_THROTTLE_CLASSES entry: per user when authenticated, per address otherwise."""

    def allow_request(self, request, view) -> bool:
        self._wait = rate_limit_wait(request)
        return self._wait is None

    def wait(self) -> float | None:
        return math.ceil(self._wait) if self._wait else None
