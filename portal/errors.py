"""The portal's own error pages (400, 403, 404, 413, 429, 500): never Django's, never a traceback.

Under /api/ the same errors are JSON in the API's shape (`code`, `detail`). The 500 page is a
static file: rendering it must not need the database or the session that may have failed.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader

log = logging.getLogger("skyport.errors")

PAGES = {
    400: ("bad_request", "Bad request",
          "The request could not be understood. Go back, check what you sent and try again."),
    403: ("forbidden", "Not allowed", "You may not do this. If you think you should, ask an operator."),
    404: ("not_found", "Not found", "There is nothing here, or it belongs to someone else."),
    413: ("request_too_large", "Request too large",
          "What you sent is larger than the portal accepts. Send less (user data is limited to {user_data} bytes)."),
}


def _answer(request: HttpRequest, status: int, message: str = "") -> HttpResponse:
    code, title, default = PAGES[status]
    message = message or default.format(user_data=settings.SKYPORT_USER_DATA_MAX_BYTES)
    if request.path.startswith("/api/"):
        return JsonResponse({"code": code, "detail": message}, status=status)
    return render(request, "error.html", {"status": status, "title": title, "message": message}, status=status)


def _own_message(exception: BaseException | None) -> str:
    """A message our own code raised (Http404("No such key pair.")); never the resolver's dict of patterns."""
    args = getattr(exception, "args", ())
    return args[0] if args and isinstance(args[0], str) else ""


def bad_request(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        return _answer(request, 413)
    if isinstance(exception, TooManyFieldsSent):
        return _answer(request, 400, "The form has too many fields.")
    return _answer(request, 400)


def permission_denied(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    return _answer(request, 403, _own_message(exception))


def page_not_found(request: HttpRequest, exception: BaseException | None = None) -> HttpResponse:
    return _answer(request, 404, _own_message(exception))


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "server_error", "detail": "Something went wrong on our side; it was logged. "
                                                             "Try again in a moment."}, status=500)
    return HttpResponse(loader.get_template("500.html").render(), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form older than the session, or cookies switched off."""
    log.info("CSRF failure on %s: %s", request.path, reason)
    return _answer(request, 403, "This form has expired or your browser did not send its cookie. Reload the page "
                                 "and submit again (Skyport needs cookies to keep you logged in).")
