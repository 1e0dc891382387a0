"""Access keys for the EC2 API: list, create (the secret is shown once, in that answer only), revoke."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from provisioning.exceptions import InvalidRequest, NotFound
from provisioning.services.access_keys import access_key_create, access_key_list, access_key_revoke

from ..forms.access_keys import AccessKeyCreateForm


@login_required
@require_http_methods(["GET", "POST"])
def access_keys(request: HttpRequest) -> HttpResponse:
    """The secret of a new key is rendered in the POST's own answer (not stored, not redirected to)."""
    form = AccessKeyCreateForm()
    created = None
    if request.method == "POST":
        form = AccessKeyCreateForm(request.POST)
        if form.is_valid():
            try:
                created = access_key_create(user=request.user, **form.cleaned_data)
                form = AccessKeyCreateForm()
            except InvalidRequest as exc:
                for msgs in exc.errors.values():
                    for msg in msgs:
                        form.add_error(None, msg)
    context = {"section": "access_keys", "keys": list(access_key_list(user=request.user)), "form": form,
               "created": created, "endpoint": request.build_absolute_uri(reverse("ec2-endpoint"))}
    response = render(request, "web/access_keys.html", context)
    if created is not None:
        response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def access_key_remove(request: HttpRequest, key_id: str) -> HttpResponse:
    try:
        key = access_key_revoke(user=request.user, ref=key_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    messages.success(request, f"Access key {key.access_key_id} revoked: requests signed with it now fail.")
    return redirect("access-keys")
