"""Generic views (NetBox `netbox/views/generic/`): a list page is a few declarations.

`ObjectListView` does what every list did by hand: filter with the shared django-filter filterset,
name the filter values it dropped, page the rows, and answer htmx with the fragment alone. The
staff console's lists (all tenants' instances, hosts, migrations) subclass it the same way.
"""
from __future__ import annotations

from typing import Any, ClassVar

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.vary import vary_on_headers
from django_filters import FilterSet

from ..forms.filtersets import FilterForm
from ..htmx import render_page_or_fragment


@method_decorator(vary_on_headers("HX-Request"), name="dispatch")
class ObjectListView(View):
    """A filtered, paged list that is a page or, for htmx, its fragment.

    Declare `filterset`, `filterset_form`, `template_name`, `fragment_template`, `per_page`,
    `section`, and `queryset` or `get_queryset(request)` (the rows this user may see). The page and
    the fragment get: `page_obj`, `page_range`, `object_list` (the page's rows, a list),
    `filter_form`, `filters` (the filters that apply), `filtered`, `filters_summary`,
    `filter_notices`, `section` and, from `get_extra_context`, anything else.
    """

    http_method_names: ClassVar[list[str]] = ["get", "head"]
    queryset: QuerySet | None = None
    filterset: type[FilterSet]
    filterset_form: type[FilterForm]
    template_name: str
    fragment_template: str
    per_page: int = 20
    section: str = ""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Every row this request may list, before filtering (override to scope by user or role)."""
        assert self.queryset is not None, f"{type(self).__name__} needs `queryset` or `get_queryset()`"
        return self.queryset.all()

    def get_extra_context(self, request: HttpRequest, queryset: QuerySet, page: Page) -> dict[str, Any]:
        """What this list's templates need beyond the common keys (`queryset` is the unfiltered one)."""
        return {}

    def get(self, request: HttpRequest) -> HttpResponse:
        params = request.GET.copy()
        params.pop("page", None)
        queryset = self.get_queryset(request)
        filterset = self.filterset(params or None, queryset=queryset)
        form = self.filterset_form(params or None)
        notices = form.report_dropped(filterset.form) if filterset.is_bound else []
        filters = {k: v for k, v in filterset.form.cleaned_data.items() if v} if filterset.is_bound else {}

        paginator = Paginator(filterset.qs, self.per_page)
        page = paginator.get_page(request.GET.get("page"))
        page.object_list = list(page.object_list)
        context = {
            "section": self.section,
            "page_obj": page,
            "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
            "object_list": page.object_list,
            "filter_form": form,
            "filters": filters,
            "filtered": bool(filters),
            "filters_summary": form.summary(filters),
            "filter_notices": notices,
        }
        context.update(self.get_extra_context(request, queryset, page))
        return render_page_or_fragment(request, self.template_name, self.fragment_template, context)


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The `next` parameter if it stays on this site, else `fallback` (no open redirect)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return fallback
