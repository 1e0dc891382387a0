"""Rate limits: one counter per user (all of a user's tokens and sessions), one per address for
anonymous calls, shared by every web process through the cache (Redis).

A fixed window counted with the cache's atomic ``incr`` (DRF's own throttles read, change and write
back a list of timestamps, which loses counts between processes). Above the rate the API answers
429 with ``Retry-After`` (the seconds until the window ends). When the cache is unreachable the
request is let through and a warning logged: losing the limit for a while beats refusing everyone.

The REST API's throttle (portal.api.throttling) and the EC2 API's ``RequestLimitExceeded`` use the
same limits through ``rate_limit_wait(request)``; sign-up counts per address with ``hit``.
"""
from __future__ import annotations

import logging
import re
import time
import weakref

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache

from portal.auth import client_ip

log = logging.getLogger("skyport.ratelimit")

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
          "d": 86400, "day": 86400}
_redis_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")


def parse_rate(rate: str) -> tuple[int, int]:
    """'600/min' -> (600, 60); '100/10s' -> (100, 10); DRF's spellings (s, m, h, d, second, ...) too."""
    match = _RATE.match(rate.lower())
    unit = match and (_UNITS.get(match.group(3)) or _UNITS.get(match.group(3)[0]))
    if not match or not unit:
        raise ValueError(f"rate {rate!r}: write it as N/period, e.g. 600/min, 20/s or 100/10s")
    return int(match.group(1)), unit * int(match.group(2) or 1)


def rate_for(request) -> tuple[str, str]:
    """(counter key, rate string): the user for an authenticated request, the address otherwise."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}", settings.SKYPORT_API_RATE
    return f"addr:{client_ip(request)}", settings.SKYPORT_API_ANON_RATE


def hit(key: str, rate: str, *, now: float | None = None) -> float | None:
    """Count one request against ``key``; None if it is within ``rate``, else the seconds to wait."""
    limit, period = parse_rate(rate)
    now = time.time() if now is None else now
    window = int(now // period)
    counter = f"throttle:{key}:{period}:{window}"
    try:
        count = _count(counter, period + 1)
    except Exception as exc:  # noqa: BLE001 - Redis down or flushed: let the request through
        log.warning("API throttle skipped (%s: %s)", type(exc).__name__, exc)
        return None
    if count <= limit:
        return None
    return max(1.0, (window + 1) * period - now)


def _count(counter: str, timeout: int) -> int:
    """Add one to the window's counter and return it: on Redis one round trip (INCR and EXPIRE pipelined;
    each hit pushes the window's expiry a little later, which only keeps a finished window a moment longer),
    on any other cache the portable add-then-incr."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        name = backend.make_and_validate_key(counter)
        client = _redis_clients.get(backend)
        if client is None:  # Django builds a client (and its command table) per call; writes go to the first server
            client = _redis_clients[backend] = backend._cache.get_client(write=True)
        pipe = client.pipeline(transaction=False)
        count, _ = pipe.incr(name).expire(name, timeout).execute()
        return count
    cache.add(counter, 0, timeout=timeout)
    return cache.incr(counter)


def rate_limit_wait(request) -> float | None:
    """The check for any surface: None to go on, or the seconds before the caller may try again."""
    key, rate = rate_for(request)
    return hit(key, rate)
