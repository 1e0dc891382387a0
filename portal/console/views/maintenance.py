"""Maintenance: the preflight table before anything moves (each guest: destination, memory to copy,
predicted time and downtime, or why it cannot move), then while the host is entering maintenance what
is left and why and the moves against the host's migration slots; cancel, exit, hypervisor upgrade."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from provisioning.models import Host
from provisioning.selectors import maintenance_list, maintenance_status
from provisioning.services.maintenance import (
    host_hypervisor_upgrade,
    maintenance_cancel,
    maintenance_enter,
    maintenance_exit,
    maintenance_preflight,
)

from ...web.htmx import is_fragment, stop_polling
from ..access import act, confirmed, staff_required
from ..forms import ReasonForm, UpgradeForm
from .hosts import host_or_404


def _back(host: Host) -> str:
    return reverse("console-host-maintenance", args=[host.name])


@staff_required
def maintenance_index(request: HttpRequest) -> HttpResponse:
    """Hosts entering or in maintenance, and the latest maintenances that ended."""
    return render(request, "console/maintenance.html",
                  {"section": "console", "page": "maintenance", "rows": maintenance_list()})


@staff_required
def host_maintenance(request: HttpRequest, name: str) -> HttpResponse:
    """The preflight while the host is in service; its maintenance's progress (polled) once started."""
    host = host_or_404(name)
    status = maintenance_status(host=host)
    context: dict[str, Any] = {"section": "console", "page": "maintenance", "host": host, "s": status,
                               "note_form": ReasonForm(), "upgrade_form": UpgradeForm()}
    if status.maintenance is None:
        context["plan"] = maintenance_preflight(host=host)
        return render(request, "console/host_maintenance.html", context)
    if is_fragment(request):
        if not status.entering:
            return stop_polling(request, "console/_maintenance_live.html", context)
        return render(request, "console/_maintenance_live.html", context)
    return render(request, "console/host_maintenance.html", context)


def _note(request: HttpRequest) -> str:
    form = ReasonForm(request.POST)
    return form.cleaned_data["reason"] if form.is_valid() else ""


@staff_required
@require_POST
def maintenance_do_enter(request: HttpRequest, name: str) -> HttpResponse:
    """Enter maintenance from the preflight page (the preflight is the confirmation)."""
    host = host_or_404(name)  # a refusal (MaintenanceRefused) names every guest that cannot move
    return act(request, lambda: maintenance_enter(host=host, actor=request.user.username, note=_note(request)),
               success=f"{host.name} is entering maintenance: its guests are moving.", back=_back(host))


@staff_required
@require_POST
def maintenance_do_cancel(request: HttpRequest, name: str) -> HttpResponse:
    host = host_or_404(name)
    if not confirmed(request):
        return render(request, "console/confirm.html", {
            "section": "console", "page": "maintenance", "title": f"Cancel maintenance of {host.name}?",
            "consequence": "Queued moves are dropped and running ones finish; the host takes placements again. "
                           "Every guest keeps running, where it was or where its finished migration took it.",
            "action_url": request.path, "button": "Yes, cancel maintenance", "danger": True, "next": _back(host)})
    return act(request, lambda: maintenance_cancel(host=host, actor=request.user.username, note=_note(request)),
               success=f"Maintenance of {host.name} cancelled: it is enabled again.", back=_back(host))


@staff_required
@require_POST
def maintenance_do_exit(request: HttpRequest, name: str) -> HttpResponse:
    host = host_or_404(name)
    return act(request, lambda: maintenance_exit(host=host, actor=request.user.username, note=_note(request)),
               success=f"{host.name} left maintenance and takes placements again.",
               back=reverse("console-host", args=[host.name]))


@staff_required
@require_POST
def host_upgrade(request: HttpRequest, name: str) -> HttpResponse:
    host = host_or_404(name)
    version = request.POST.get("version", "")
    return act(request, lambda: host_hypervisor_upgrade(host=host, version=version, actor=request.user.username),
               success=lambda h: f"{h.name} now runs hypervisor {h.hypervisor_version}.", back=_back(host))
