"""Who may use the console, and how its views answer: staff only, service errors as messages."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.vary import vary_on_headers

from provisioning.exceptions import SkyportError

from ..web.views.generic import safe_next


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous: to the login page (back here after). Signed in without staff: 403, no redirect loop.

    Also `Vary: HX-Request`: the console's pages answer htmx with their fragment.
    """
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied("The operator console is for staff.")
        return view(request, *args, **kwargs)
    return vary_on_headers("HX-Request")(wrapped)


class StaffRequiredMixin:
    """`staff_required` for class-based views."""

    @classmethod
    def as_view(cls, **initkwargs):
        return staff_required(super().as_view(**initkwargs))


def confirmed(request: HttpRequest) -> bool:
    """A destructive action runs only from its confirmation page's form (`confirm=yes`)."""
    return request.method == "POST" and request.POST.get("confirm") == "yes"


def refused(request: HttpRequest, exc: SkyportError, back: str) -> HttpResponse:
    """A service's refusal as an error message on the page the operator came from (never a 500)."""
    messages.error(request, exc.message)
    return redirect(safe_next(request, back))


def act(request: HttpRequest, call: Callable[[], Any], *, success: str | Callable[[Any], str], back: str,
        then: Callable[[Any], str] | None = None) -> HttpResponse:
    """Run one service call; a refusal becomes an error message. On success: a message, then `then(result)`
    (a page about what was made), else `next` or `back`."""
    try:
        result = call()
    except SkyportError as exc:
        return refused(request, exc, back)
    messages.success(request, success(result) if callable(success) else success)
    return redirect(then(result) if then else safe_next(request, back))
