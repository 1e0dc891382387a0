"""Sign up (log in and out are Django's own views, wired in `portal/web/urls.py`)."""
from __future__ import annotations

import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from portal.auth import client_ip
from portal.ratelimit import hit

from ..forms import SignupForm
from .generic import safe_next


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """SKYPORT_SIGNUP: off (404), approval (an inactive account that staff activate), open."""
    mode = settings.SKYPORT_SIGNUP
    if mode == "off":
        raise Http404("Sign-up is closed on this portal: ask an operator for an account.")
    if request.user.is_authenticated:
        return redirect("marketplace")
    form = SignupForm(request.POST or None, approval=mode == "approval")
    if request.method == "POST" and form.is_valid():
        wait = hit(f"signup:{client_ip(request)}", settings.SKYPORT_SIGNUP_RATE)
        if wait is not None:
            response = render(request, "error.html", {"status": 429, "title": "Too many sign-ups", "message": (
                "Too many accounts were created from your address; try again later.")}, status=429)
            response["Retry-After"] = str(math.ceil(wait))
            return response
        user = form.save()
        if mode == "approval":
            return render(request, "registration/signup_pending.html", {"username": user.username})
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Skyport, {user.username}. Pick an appliance to launch.")
        return redirect(safe_next(request, reverse("marketplace")))
    return render(request, "registration/signup.html", {"form": form, "next": request.GET.get("next", ""),
                                                        "approval": mode == "approval"})
