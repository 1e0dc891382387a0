"""Login lockout glue for django-axes: the client address, the backend, the 429 answer.

Axes counts wrong passwords per (user name, address) on every login surface that calls
``authenticate(request, ...)``: /login/, the admin login and the API token endpoint. The answer to
a locked-out attempt is the portal's own page (or JSON under /api/) with ``Retry-After``.
"""
from __future__ import annotations

import ipaddress
import logging
import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

log = logging.getLogger("skyport.auth")


def _address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The caller's address: the peer, or the entry that the outermost of SKYPORT_PROXY_COUNT proxies
    appended to X-Forwarded-For. None when there is none (an internal login without a peer)."""
    request = getattr(request, "_request", request)  # a DRF Request wraps the HttpRequest
    proxies = settings.SKYPORT_PROXY_COUNT
    if proxies:
        forwarded = [a for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        if len(forwarded) >= proxies and (address := _address(forwarded[-proxies])):
            return address
    return _address(request.META.get("REMOTE_ADDR", "") or "")


class LockoutBackend(AxesStandaloneBackend):
    """Axes' lockout check, for calls that come with a request.

    ``authenticate()`` without a request (a management command, a test's ``client.login``) is no
    login surface anyone can reach from the network; axes would raise, this passes it on to the
    model backend instead.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def retry_after_seconds(username: str = "", address: str = "") -> int:
    """Seconds until the lockout of (username, address) ends: from its last counted failure."""
    cool_off = get_cool_off()
    if not cool_off:
        return 3600
    last = (AccessAttempt.objects.filter(username=username, ip_address=address)
            .aggregate(last=Max("attempt_time"))["last"]) if username else None
    remaining = (last + cool_off - timezone.now()) if last else cool_off
    return max(1, math.ceil(remaining.total_seconds()))


def lockout_message(wait: int) -> str:
    minutes = max(1, math.ceil(wait / 60))
    return (f"Too many wrong passwords in a row: logging in as this user from your address is locked for "
            f"{minutes} minute{'s' if minutes != 1 else ''}. Try again later, or ask an operator to unlock it.")


def lockout_response(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: 429 with Retry-After, as JSON under /api/ and as the portal's page elsewhere."""
    username = get_client_username(request, credentials) or ""
    log.warning("login locked out: user %r from %s (%s)", username[:150], client_ip(request), request.path)
    wait = retry_after_seconds(username, client_ip(request))
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"code": "locked_out", "detail": lockout_message(wait)}, status=429)
    else:
        response = render(request, "error.html", {"status": 429, "title": "Locked out for now",
                                                  "message": lockout_message(wait)}, status=429)
    response["Retry-After"] = str(wait)
    return response
