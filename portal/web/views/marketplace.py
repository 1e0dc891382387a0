"""The appliance catalog: public browsing with live filters, and one appliance's page."""
from __future__ import annotations

from typing import Any

from django.core.paginator import Page
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_GET

from provisioning.exceptions import NotFound
from provisioning.filtersets import ApplianceFilterSet
from provisioning.models import Appliance
from provisioning.selectors import appliance_get, appliance_list, instance_type_list

from ..forms import MarketplaceFilterForm, type_shortfall
from .generic import ObjectListView


class MarketplaceView(ObjectListView):
    """Browse and search the appliance catalog (public); htmx live filtering swaps the results."""

    filterset = ApplianceFilterSet
    filterset_form = MarketplaceFilterForm
    template_name = "web/marketplace.html"
    fragment_template = "web/_appliance_results.html"
    per_page = 12
    section = "marketplace"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return appliance_list()

    def get_extra_context(self, request: HttpRequest, queryset: QuerySet, page: Page) -> dict[str, Any]:
        return {"total": queryset.count()}


def appliance_or_404(slug: str) -> Appliance:
    try:
        return appliance_get(ref=slug)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@require_GET
def appliance_detail(request: HttpRequest, slug: str) -> HttpResponse:
    app = appliance_or_404(slug)
    types = [(t, type_shortfall(t, app)) for t in instance_type_list()]
    fitting = [t for t, short in types if not short]
    context = {"section": "marketplace", "appliance": app, "smallest_fit": fitting[0] if fitting else None,
               "fitting_count": len(fitting), "types_count": len(types)}
    return render(request, "web/appliance_detail.html", context)


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Pages without a <link rel="icon"> (admin, Swagger UI, the browsable API) ask for /favicon.ico."""
    return redirect(static("img/skyport.svg"), permanent=True)
