"""Every tenant's instances: the list, one instance's page, and the staff actions on it
(stop, terminate; migrate in `migrations.py`), each destructive one confirmed first."""
from __future__ import annotations

from typing import Any

from django.core.paginator import Page
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from provisioning.exceptions import NotFound
from provisioning.filtersets import StaffInstanceFilterSet
from provisioning.models import Instance
from provisioning.selectors import instance_events, instance_get_any, instance_list_all
from provisioning.services.instances import instance_action

from ...web.views.generic import ObjectListView, safe_next
from ..access import StaffRequiredMixin, act, confirmed, staff_required
from ..forms import InstanceFilterForm, MigrateForm

# What each staff action does to the tenant, said on its confirmation page.
CONSEQUENCES = {
    "stop": "The guest is shut down. Its capacity stays reserved on {host}; the tenant can start it again.",
    "terminate": "The guest is powered off and its disk deleted; its capacity goes back to {host}. "
                 "This cannot be undone.",
}


class InstanceListView(StaffRequiredMixin, ObjectListView):
    filterset = StaffInstanceFilterSet
    filterset_form = InstanceFilterForm
    template_name = "console/instances.html"
    fragment_template = "console/_instance_table.html"
    per_page = 25
    section = "console"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return instance_list_all().order_by("-created_at", "-id")

    def get_extra_context(self, request: HttpRequest, queryset: QuerySet, page: Page) -> dict[str, Any]:
        return {"page": "instances", "any_busy": any(i.is_busy for i in page.object_list)}


def instance_or_404(public_id: str) -> Instance:
    try:
        return instance_get_any(public_id=public_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@staff_required
def instance_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    inst = instance_or_404(public_id)
    context = {"section": "console", "page": "instances", "instance": inst,
               "events": list(instance_events(instance=inst).select_related("host")[:30]),
               "migrate_form": MigrateForm(exclude=inst.host.name if inst.host else "")}
    return render(request, "console/instance_detail.html", context)


@staff_required
@require_POST
def instance_do(request: HttpRequest, public_id: str, action: str) -> HttpResponse:
    """stop / terminate any tenant's instance: the confirmation page first, then one service call."""
    if action not in CONSEQUENCES:
        raise Http404(f"No staff action '{action}'.")
    inst = instance_or_404(public_id)
    back = safe_next(request, reverse("console-instance", args=[inst.public_id]))
    if not confirmed(request):
        host = inst.host.name if inst.host else "its host"
        return render(request, "console/confirm.html", {
            "section": "console", "page": "instances", "title": f"{action.capitalize()} {inst.public_id}?",
            "consequence": CONSEQUENCES[action].format(host=host), "owner": inst.owner.username,
            "action_url": request.path, "button": f"Yes, {action}", "danger": action == "terminate", "next": back})
    return act(request, lambda: instance_action(user=request.user, instance=inst, action=action),
               success=f"{action.capitalize()} requested for {inst.public_id} ({inst.owner.username}'s).", back=back)
