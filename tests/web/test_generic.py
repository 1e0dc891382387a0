"""The pieces the staff console reuses: the list base, the badge colours, the template filters."""
from __future__ import annotations

import django_filters
import pytest
from django.template import Context, Template
from django.test import RequestFactory

from portal.web.forms import ChoiceFilterField, FilterForm
from portal.web.views.generic import ObjectListView
from provisioning.choices import BadgeChoices, HostState, InstanceState
from provisioning.models import Host


class HostFilterSet(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=HostState.choices)

    class Meta:
        model = Host
        fields = ["state"]


class HostFilterForm(FilterForm):
    state = ChoiceFilterField(label="State", choices=HostState.choices, any_label="Any state",
                              noun="host state", nouns="host states")


class HostListView(ObjectListView):
    """A console-style list of another model, in declarations only."""

    queryset = Host.objects.order_by("name")
    filterset = HostFilterSet
    filterset_form = HostFilterForm
    template_name = "web/_filter_notices.html"
    fragment_template = "web/_filter_notices.html"
    per_page = 5


def _get(url: str):
    return HostListView.as_view()(RequestFactory().get(url))


@pytest.mark.django_db
def test_a_second_model_lists_filters_pages_and_names_a_dropped_value(catalog):
    ok = _get("/?state=enabled&page=2")
    assert ok.status_code == 200 and "HX-Request" in ok["Vary"]
    bad = _get("/?state=bogus").content.decode()
    assert "Unknown host state &#x27;bogus&#x27; — showing all host states." in bad


@pytest.mark.django_db
def test_the_list_context_pages_the_filtered_rows(catalog):
    captured = {}

    class Spy(HostListView):
        def get_extra_context(self, request, queryset, page):
            captured.update(page=page, total=queryset.count())
            return {}

    Host.objects.filter(name__in=["hv-01", "hv-02"]).update(state=HostState.MAINTENANCE)
    request = RequestFactory().get("/?state=maintenance")
    Spy.as_view()(request)
    page = captured["page"]
    assert [h.name for h in page.object_list] == ["hv-01", "hv-02"]
    assert page.paginator.count == 2 and captured["total"] == Host.objects.count()


@pytest.mark.parametrize("choices", [InstanceState, HostState])
def test_every_badge_choice_set_colours_every_value(choices: type[BadgeChoices]):
    assert set(choices.colours) == set(choices.values)
    assert choices.colour("no-such-state") == "grey"


def test_the_state_badge_takes_its_colour_from_the_choice_set():
    host = Host(name="hv-x", state=HostState.MAINTENANCE)
    html = Template("{% load skyport %}{% state_badge host %}").render(Context({"host": host}))
    assert 'class="badge badge-orange"' in html and ">maintenance<" in html


@pytest.mark.parametrize(("template", "text"), [
    ("{{ 512|mib }}", "512 MiB"), ("{{ 1536|mib }}", "1.5 GiB"), ('{{ 512|mib:"GiB" }}', "0.5 GiB"),
    ("{{ 'hardware_assisted'|mode_label }}", "hardware-assisted (VT-x/AMD-V)"),
    ("{{ 'odd_mode'|mode_label }}", "odd mode"), ("{{ 'devops'|category_label }}", "DevOps"),
])
def test_template_filters(template, text):
    assert Template("{% load skyport %}" + template).render(Context()) == text
