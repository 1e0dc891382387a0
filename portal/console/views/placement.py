"""Placement dry run: where would a request go, ranked, and why every other host was refused.
Nothing is claimed. (Moved here from the Django admin; `/admin/placement/dry-run/` redirects.)"""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from provisioning.placement import PlacementRequest, dry_run
from provisioning.placement.scheduler import CANDIDATE_LIMIT

from ..access import staff_required
from ..forms import DryRunForm


@staff_required
def placement(request: HttpRequest) -> HttpResponse:
    form = DryRunForm(request.GET or None)
    result = None
    if form.is_valid():
        d = form.cleaned_data
        result = dry_run(PlacementRequest(
            appliance=d["appliance"], instance_type=d["instance_type"],
            availability_zone=d["availability_zone"] or "", virt_mode=d["virt_mode"] or ""))
    weigher_names = list(result["candidates"][0]["weights"]) if result and result["candidates"] else []
    rows = [{**c, "shares": [c["weights"].get(n, 0) for n in weigher_names]}
            for c in (result["candidates"] if result else [])]
    context = {"section": "console", "page": "placement", "form": form, "result": result, "rows": rows,
               "weigher_names": weigher_names, "limit": CANDIDATE_LIMIT,
               "truncated": bool(result) and result["explanation"]["hosts_fit"] > len(rows)}
    return render(request, "console/placement.html", context)


def admin_dry_run_moved(request: HttpRequest) -> HttpResponse:
    """The old admin address keeps working (bookmarks, the README of earlier versions)."""
    query = request.META.get("QUERY_STRING", "")
    return redirect("/console/placement/" + (f"?{query}" if query else ""), permanent=True)
