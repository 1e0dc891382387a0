"""htmx in one place: which requests get a fragment, and how a poll is told to stop.

One copy of markup (NetBox `utilities/htmx.py`): a full page includes the fragment that htmx
swaps, and a view answers a non-boosted htmx request with the fragment alone.
"""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django_htmx.http import HttpResponseStopPolling


def is_fragment(request: HttpRequest) -> bool:
    """A non-boosted htmx request (not a history restore) gets the fragment, anything else the page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page_or_fragment(request: HttpRequest, template: str, fragment: str, context: dict[str, Any],
                            *, status: int = 200) -> HttpResponse:
    """The fragment (with `fragment=True` for its out-of-band extras) to htmx, the page to anyone else.

    Pages that answer both ways must say so to caches: `Vary: HX-Request` (`vary_on_headers`).
    """
    if is_fragment(request):
        return render(request, fragment, {**context, "fragment": True}, status=status)
    return render(request, template, context, status=status)


def stop_polling(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponseStopPolling:
    """The last answer to an `hx-trigger="every …"` poll: rendered as usual, with HTTP 286 so htmx stops."""
    return HttpResponseStopPolling(render_to_string(template, context, request=request))
