"""The EC2 endpoint's short way through Django: answered right after SecurityMiddleware.

A request to `/ec2/` is authenticated by its SigV4 signature alone and answered with XML, so the rest of
the chain has nothing to do for it: no session or login (`request.user`, axes), no CSRF token (the view
is exempt: a browser session never authenticates here), no messages, no htmx, no static files, and no
Content-Security-Policy or X-Frame-Options (they govern pages a browser renders; an EC2 answer is data).
Every other path goes through the whole chain as before. SecurityMiddleware still runs first (the HTTPS
redirect, HSTS, nosniff).
"""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .views import endpoint

PATHS = frozenset({"/ec2", "/ec2/"})  # what `portal.urls` routes to the endpoint


class Ec2EndpointMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info in PATHS:
            return endpoint(request)
        return self.get_response(request)
