"""Sign up (log in and out are Django's own views, wired in `portal/web/urls.py`)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from ..forms import SignupForm
from .generic import safe_next


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("marketplace")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Skyport, {user.username}. Pick an appliance to launch.")
        return redirect(safe_next(request, reverse("marketplace")))
    return render(request, "registration/signup.html", {"form": form, "next": request.GET.get("next", "")})
