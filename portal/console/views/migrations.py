"""Live migrations: the list, one migration's live page (round chart, downtime against its limit,
phases, ETA, reason), abort and force-complete with their consequence shown first, and starting one
from an instance or host page."""
from __future__ import annotations

from typing import Any

from django.core.paginator import Page
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from provisioning.exceptions import NotFound, SkyportError
from provisioning.filtersets import MigrationFilterSet
from provisioning.models import Migration
from provisioning.pipeline.migration_steps import progress
from provisioning.selectors import migration_get, migration_list
from provisioning.services.migrations import (
    migration_abort,
    migration_force_complete,
    migration_force_preview,
    migration_start,
)

from ...web.htmx import is_fragment, stop_polling
from ...web.views.generic import ObjectListView, safe_next
from ..access import StaffRequiredMixin, act, confirmed, refused, staff_required
from ..forms import MigrateForm, MigrationFilterForm
from .instances import instance_or_404

FORCE_WORDS = {
    "stop_and_copy": "Pause the guest now and copy what is left in one go (stop-and-copy).",
    "auto_converge": "Throttle the guest's vCPUs so it dirties memory slower than the link sends it (auto-converge).",
}


class MigrationListView(StaffRequiredMixin, ObjectListView):
    filterset = MigrationFilterSet
    filterset_form = MigrationFilterForm
    template_name = "console/migrations.html"
    fragment_template = "console/_migration_table.html"
    per_page = 25
    section = "console"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return migration_list()

    def get_extra_context(self, request: HttpRequest, queryset: QuerySet, page: Page) -> dict[str, Any]:
        return {"page": "migrations", "any_active": any(not m.is_final for m in page.object_list)}


def migration_or_404(public_id: str) -> Migration:
    try:
        return migration_get(public_id=public_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def live_context(mig: Migration) -> dict[str, Any]:
    rounds = list(mig.rounds.all())
    total_mib = mig.memory_total_bytes / 2**20
    return {
        "section": "console", "page": "migrations", "m": mig, "rounds": rounds, "stages": progress(mig),
        "rounds_data": [{"round": r.round, "sent_mib": round(r.sent_mib, 1), "dirty_mib": round(r.dirty_mib, 1),
                         "dirty_rate_mibps": round(r.dirty_rate_mibps, 1), "remaining_mib": round(r.remaining_mib, 1),
                         "transfer_rate_mibps": round(r.transfer_rate_mibps, 1)} for r in rounds],
        "total_mib": total_mib, "sent_mib": mig.memory_processed_bytes / 2**20,
        "remaining_mib": mig.memory_remaining_bytes / 2**20,
        "downtime_ratio": (mig.downtime_ms / mig.downtime_limit_ms) if mig.downtime_ms is not None else None,
    }


@staff_required
def migration_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    """The page, or for htmx its live fragment, polled until the migration ends (then HTTP 286)."""
    mig = migration_or_404(public_id)
    context = live_context(mig)
    if is_fragment(request):
        if mig.is_final:
            return stop_polling(request, "console/_migration_live.html", context)
        return render(request, "console/_migration_live.html", context)
    return render(request, "console/migration_detail.html", context)


@staff_required
@require_POST
def migration_do_abort(request: HttpRequest, public_id: str) -> HttpResponse:
    mig = migration_or_404(public_id)
    back = reverse("migration-detail", args=[mig.public_id])
    if not confirmed(request):
        return render(request, "console/confirm.html", {
            "section": "console", "page": "migrations", "title": f"Abort {mig.public_id}?",
            "consequence": f"The copy stops; {mig.instance.public_id} keeps running on {mig.source_host.name} and "
                           f"the capacity held on {mig.dest_host.name} is released. Nothing is lost.",
            "action_url": request.path, "button": "Yes, abort", "danger": True, "next": back})
    return act(request, lambda: migration_abort(actor=request.user.username, migration=mig),
               success=f"{mig.public_id} aborted: the guest stays on {mig.source_host.name}.", back=back)


@staff_required
@require_POST
def migration_do_force(request: HttpRequest, public_id: str) -> HttpResponse:
    """Force-complete: the confirmation page shows what it costs (the predicted downtime) before it is applied."""
    mig = migration_or_404(public_id)
    back = reverse("migration-detail", args=[mig.public_id])
    mode = request.POST.get("mode", "stop_and_copy")
    if not confirmed(request):
        try:
            preview = migration_force_preview(migration=mig, mode=mode)
        except SkyportError as exc:
            return refused(request, exc, back)
        cost = f"Predicted downtime: {preview['predicted_downtime_ms']:.0f} ms (limit {mig.downtime_limit_ms:g} ms)"
        if mode == "auto_converge":
            cost = f"The guest runs throttled to {preview['throttle_pct']:g} % until the copy converges. " + cost
        return render(request, "console/confirm.html", {
            "section": "console", "page": "migrations", "title": f"Force-complete {mig.public_id}?",
            "consequence": FORCE_WORDS.get(mode, ""), "details": [cost], "hidden": {"mode": mode},
            "action_url": request.path, "button": "Yes, force-complete", "danger": True, "next": back,
            "preview": preview})
    return act(request, lambda: migration_force_complete(actor=request.user.username, migration=mig, mode=mode),
               success=lambda r: f"Forcing {mig.public_id}: predicted downtime {r['predicted_downtime_ms']:.0f} ms.",
               back=back)


@staff_required
@require_http_methods(["GET", "POST"])
def instance_migrate(request: HttpRequest, public_id: str) -> HttpResponse:
    """Live-migrate a running instance: to a named host, or wherever the scheduler puts it. Confirmed first."""
    inst = instance_or_404(public_id)
    back = safe_next(request, reverse("console-instance", args=[inst.public_id]))
    form = MigrateForm(request.POST or None, exclude=inst.host.name if inst.host else "")
    if not confirmed(request) or not form.is_valid():
        where = form.cleaned_data.get("destination") if form.is_bound and form.is_valid() else ""
        return render(request, "console/migrate_confirm.html", {
            "section": "console", "page": "instances", "instance": inst, "form": form, "destination": where,
            "next": back})
    return act(request, lambda: migration_start(actor=request.user.username, instance=inst,
                                                destination=form.cleaned_data["destination"] or None),
               success=lambda mig: f"Live migration {mig.public_id} of {inst.public_id} to {mig.dest_host.name} "
                                   "started.",
               back=back, then=lambda mig: reverse("migration-detail", args=[mig.public_id]))
