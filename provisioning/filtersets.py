"""django-filter filtersets: one per list, shared by the web pages and the REST API."""
from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, Q

from .choices import Architecture, HostState, InstanceState, OsFamily, TaskState, VirtMode
from .models import Appliance, Host, Instance, InstanceTag


class ApplianceFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    os_family = django_filters.ChoiceFilter(choices=OsFamily.choices, label="OS")
    category = django_filters.CharFilter(field_name="category", lookup_expr="iexact", label="Stack / category")
    architecture = django_filters.ChoiceFilter(choices=Architecture.choices)
    virt_mode = django_filters.ChoiceFilter(choices=VirtMode.choices, method="filter_mode",
                                            label="Virtualization mode")

    class Meta:
        model = Appliance
        fields = ["q", "os_family", "category", "architecture", "virt_mode"]

    def search(self, qs, name, value):
        for word in value.split():
            qs = qs.filter(
                Q(name__icontains=word) | Q(os_name__icontains=word) | Q(stack__icontains=word)
                | Q(vendor__icontains=word) | Q(description__icontains=word) | Q(category__icontains=word)
                | Q(os_version__icontains=word) | Q(slug__icontains=word)
            )
        return qs

    def filter_mode(self, qs, name, value):
        return qs.filter(modes_csv__contains=f",{value},")


class InstanceFilterSet(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=InstanceState.choices)
    q = django_filters.CharFilter(method="search", label="Search")
    tag = django_filters.CharFilter(method="filter_tag", label="Tag (key or key=value)")

    class Meta:
        model = Instance
        fields = ["state", "q", "tag"]

    def filter_tag(self, qs, name, value):
        key, sep, tag_value = value.partition("=")
        tags = InstanceTag.objects.filter(instance=OuterRef("pk"), key=key)
        return qs.filter(Exists(tags.filter(value=tag_value) if sep else tags))

    def search(self, qs, name, value):
        return qs.filter(Q(public_id__icontains=value) | Q(name__icontains=value) | Q(private_ip__icontains=value))


class HostFilterSet(django_filters.FilterSet):
    """The staff host list: by state, zone, and a search over name and CPU model."""

    state = django_filters.MultipleChoiceFilter(choices=HostState.choices)
    availability_zone = django_filters.CharFilter(field_name="availability_zone")
    q = django_filters.CharFilter(method="search", label="Search")

    class Meta:
        model = Host
        fields = ["state", "availability_zone", "q"]

    def search(self, qs, name, value):
        return qs.filter(Q(name__icontains=value) | Q(cpu_model__icontains=value))


class StaffInstanceFilterSet(InstanceFilterSet):
    """Every tenant's instances (staff): the owner's filters plus host, owner, zone and task."""

    host = django_filters.CharFilter(field_name="host__name", label="Host name")
    owner = django_filters.CharFilter(field_name="owner__username", label="Owner (username)")
    availability_zone = django_filters.CharFilter(field_name="availability_zone")
    task = django_filters.ChoiceFilter(choices=[c for c in TaskState.choices if c[0]])

    class Meta:
        model = Instance
        fields = ["state", "q", "host", "owner", "availability_zone", "task"]
