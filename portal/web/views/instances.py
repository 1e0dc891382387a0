"""My instances: the list, one instance's live page (polled until nothing is pending), actions, credentials."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import Page
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from provisioning.exceptions import NotFound, SkyportError
from provisioning.filtersets import InstanceFilterSet
from provisioning.lifecycle import TRANSITIONS
from provisioning.models import Instance
from provisioning.pipeline.engine import step_note
from provisioning.pipeline.instance_steps import progress_with_title
from provisioning.selectors import instance_events, instance_get, instance_list
from provisioning.services.instances import instance_action, instance_credentials, instance_login_hint

from ..forms import InstanceFilterForm
from ..htmx import is_fragment, stop_polling
from .generic import ObjectListView, safe_next


class InstanceListView(LoginRequiredMixin, ObjectListView):
    """My instances: filter by state, quick actions, rows refresh while any instance is busy."""

    filterset = InstanceFilterSet
    filterset_form = InstanceFilterForm
    template_name = "web/instances.html"
    fragment_template = "web/_instance_table.html"
    per_page = 20
    section = "instances"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return instance_list(user=request.user)

    def get_extra_context(self, request: HttpRequest, queryset: QuerySet, page: Page) -> dict[str, Any]:
        return {"any_busy": any(i.is_busy for i in page.object_list), "has_any": queryset.exists()}


def flash_id(inst: Instance) -> str:
    """DOM id of the "Launching/Stopping i-…" flash message, so the last progress poll can remove it."""
    return f"flash-{inst.public_id}"


def _own_instance(request: HttpRequest, public_id: str) -> Instance:
    """The caller's instance, or 404 (never 403: another user's instance does not exist for you)."""
    try:
        return instance_get(user=request.user, public_id=public_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def credentials_context(inst: Instance, *, revealed: dict | None = None) -> dict:
    """What the credentials panel shows, without consuming the one-time password."""
    hint = instance_login_hint(inst)  # the one connect string (REST and EC2 show the same)
    uses_password = inst.appliance.os_family == "windows" or not inst.key_name
    return {
        "creds_username": hint["username"] or inst.appliance.default_user,
        "creds_connect": hint["connect"] or "",
        "creds_uses_password": uses_password,
        "creds_ready": inst.state == "running" and bool(inst.private_ip),
        # Only once nothing is pending: the live region stops polling then, so a revealed
        # password is not swapped away by the next poll.
        "creds_can_reveal": not inst.is_busy and inst.state == "running" and bool(inst.initial_password)
        and not inst.credentials_shown_at,
        "creds_shown_at": inst.credentials_shown_at,
        "creds_password": (revealed or {}).get("password"),
    }


def instance_context(inst: Instance) -> dict:
    title, steps = progress_with_title(inst)  # the pipeline declares the stages; the page renders them
    return {
        "section": "instances",
        "instance": inst,
        "final": not inst.is_busy,
        "steps_title": title,
        "steps": steps,
        "queue_note": step_note(inst),
        "events": list(instance_events(instance=inst)[:50]),
        "groups": list(inst.security_groups.prefetch_related("rules")),
        **credentials_context(inst),
    }


@login_required
@require_GET
def instance_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    inst = _own_instance(request, public_id)
    context = instance_context(inst)
    # The flash lives outside the polled region; the final poll deletes it out of band, so a
    # stand-in must exist when there is none (htmx reports an OOB swap without a target).
    context["flash_id"] = flash_id(inst)
    context["has_flash"] = any(m.extra_tags == context["flash_id"] for m in messages.get_messages(request))
    return render(request, "web/instance_detail.html", context)


@login_required
@require_GET
def instance_progress(request: HttpRequest, public_id: str) -> HttpResponse:
    """The live fragment, polled every second until nothing is pending (then HTTP 286 stops htmx)."""
    inst = _own_instance(request, public_id)
    context = instance_context(inst)
    if context["final"]:
        return stop_polling(request, "web/_instance_live.html", {**context, "announce": True})
    return render(request, "web/_instance_live.html", context)


@login_required
@require_POST
def instance_do(request: HttpRequest, public_id: str, action: str) -> HttpResponse:
    """stop / start / reboot / terminate (POST + CSRF only); terminate is confirmed first."""
    inst = _own_instance(request, public_id)
    if action not in TRANSITIONS:
        raise Http404(f"No action '{action}'.")
    back = safe_next(request, inst.get_absolute_url())
    if action == "terminate" and request.POST.get("confirm") != "yes":
        return render(request, "web/instance_confirm_terminate.html",
                      {"section": "instances", "instance": inst, "next": back})
    try:
        instance_action(user=request.user, instance=inst, action=action)
    except SkyportError as exc:
        messages.error(request, exc.message)
    else:
        verb = {"stop": "Stopping", "start": "Starting", "reboot": "Rebooting", "terminate": "Terminating"}[action]
        messages.success(request, f"{verb} {inst.public_id}{f' ({inst.name})' if inst.name else ''}.",
                         extra_tags=flash_id(inst))
    return redirect(back)


@login_required
@require_POST
def instance_reveal_credentials(request: HttpRequest, public_id: str) -> HttpResponse:
    """Reveal the generated password: shown once, then forgotten by the service."""
    inst = _own_instance(request, public_id)
    try:
        revealed = instance_credentials(user=request.user, instance=inst)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    inst.refresh_from_db()
    if is_fragment(request):
        ctx = {"instance": inst, **credentials_context(inst, revealed=revealed)}
        return render(request, "web/_credentials.html", ctx)
    context = instance_context(inst)
    context.update(credentials_context(inst, revealed=revealed))
    return render(request, "web/instance_detail.html", context)
