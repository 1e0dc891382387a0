"""Hosts: the filtered, sortable list and one host's page (capacity, claims, guests, events, actions)."""
from __future__ import annotations

from typing import Any

from django.core.paginator import Page
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from provisioning.exceptions import NotFound
from provisioning.filtersets import HostFilterSet
from provisioning.models import Host
from provisioning.selectors import (
    host_claims,
    host_disabled_reason,
    host_events,
    host_get,
    host_guests,
    host_list,
)
from provisioning.services.hosts import host_update

from ...web.views.generic import ObjectListView
from ..access import StaffRequiredMixin, act, staff_required
from ..forms import HostFilterForm, MigrateForm, ReasonForm, UpgradeForm


class HostListView(StaffRequiredMixin, ObjectListView):
    queryset = host_list()
    filterset = HostFilterSet
    filterset_form = HostFilterForm
    template_name = "console/hosts.html"
    fragment_template = "console/_host_table.html"
    per_page = 25
    section = "console"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return host_list()

    def get_extra_context(self, request: HttpRequest, queryset: QuerySet, page: Page) -> dict[str, Any]:
        return {"page": "hosts"}


def host_or_404(name: str) -> Host:
    try:
        return host_get(name=name)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@staff_required
def host_detail(request: HttpRequest, name: str) -> HttpResponse:
    host = host_or_404(name)
    host.disabled_reason = host_disabled_reason(host=host)
    context = {
        "section": "console", "page": "hosts", "host": host,
        "guests": list(host_guests(host=host)), "claims": list(host_claims(host=host)),
        "events": host_events(host=host), "reason_form": ReasonForm(), "upgrade_form": UpgradeForm(),
        "migrate_form": MigrateForm(exclude=host.name),
    }
    return render(request, "console/host_detail.html", context)


HOST_STATES = {"disable": "disabled", "enable": "enabled"}


@staff_required
@require_POST
def host_state(request: HttpRequest, name: str, action: str) -> HttpResponse:
    """Disable (no new placements; its guests keep running) or enable a host, with the reason logged."""
    if action not in HOST_STATES:
        raise Http404(f"No host action '{action}'.")
    host = host_or_404(name)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    return act(request, lambda: host_update(actor=request.user.username, host=host, reason=reason,
                                            state=HOST_STATES[action]),
               success=f"{host.name} {HOST_STATES[action]}.", back=reverse("console-host", args=[host.name]))
