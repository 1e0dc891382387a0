"""django-filter filtersets: one per list, shared by the web pages and the REST API."""
from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, Q

from .choices import Architecture, HostState, InstanceState, MigrationStatus, OsFamily, TaskState, VirtMode
from .models import Appliance, Host, Instance, InstanceTag, Migration


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


# A host's CPU class (what placement's mode filter reads): 64-bit or not, VT-x/AMD-V or not.
CPU_CLASS_CHOICES = [("64-hvm", "64-bit, VT-x/AMD-V"), ("64", "64-bit, no VT-x/AMD-V"),
                     ("32-hvm", "32-bit, VT-x/AMD-V"), ("32", "32-bit, no VT-x/AMD-V")]
HOST_STATE_FILTER_CHOICES = [*HostState.choices, ("down", "down (not answering)")]


class HostFilterSet(django_filters.FilterSet):
    """The staff host lists (console and REST): state (or `down`), zone, CPU class, hypervisor version,
    a search over name and CPU model, and `sort` by name, zone, state, guests or allocated share."""

    state = django_filters.MultipleChoiceFilter(choices=HOST_STATE_FILTER_CHOICES, method="filter_state")
    availability_zone = django_filters.CharFilter(field_name="availability_zone")
    cpu_class = django_filters.ChoiceFilter(choices=CPU_CLASS_CHOICES, method="filter_cpu_class", label="CPU class")
    hypervisor_version = django_filters.CharFilter(field_name="hypervisor_version")
    q = django_filters.CharFilter(method="search", label="Search")
    sort = django_filters.OrderingFilter(fields=(
        ("name", "name"), ("availability_zone", "zone"), ("state", "state"), ("guests", "guests"),
        ("vcpus_ratio", "vcpus"), ("memory_ratio", "memory"), ("disk_ratio", "disk")))

    class Meta:
        model = Host
        fields = ["state", "availability_zone", "cpu_class", "hypervisor_version", "q"]

    def filter_state(self, qs, name, value):
        wanted = Q(state__in=[v for v in value if v != "down"], is_up=True)
        return qs.filter(wanted | Q(is_up=False) if "down" in value else wanted)

    def filter_cpu_class(self, qs, name, value):
        return qs.filter(is_64bit=value.startswith("64"), has_hw_virt=value.endswith("hvm"))

    def search(self, qs, name, value):
        return qs.filter(Q(name__icontains=value) | Q(cpu_model__icontains=value))


class StaffInstanceFilterSet(InstanceFilterSet):
    """Every tenant's instances (staff): the owner's filters plus host, owner, zone and task."""

    host = django_filters.CharFilter(field_name="host__name", label="Host name")
    owner = django_filters.CharFilter(field_name="owner__username", label="Owner (username)")
    availability_zone = django_filters.CharFilter(field_name="availability_zone")
    task = django_filters.ChoiceFilter(choices=[c for c in TaskState.choices if c[0]])
    appliance = django_filters.CharFilter(field_name="appliance__slug", label="Appliance (slug)")

    class Meta:
        model = Instance
        fields = ["state", "q", "host", "owner", "availability_zone", "task", "appliance"]


class MigrationFilterSet(django_filters.FilterSet):
    """Live migrations (staff): by status (repeatable), a host at either end, source, destination, instance,
    owner, and a search over the migration's and instance's ids and the instance's name."""

    status = django_filters.MultipleChoiceFilter(choices=MigrationStatus.choices)
    host = django_filters.CharFilter(method="either_end", label="Host name (source or destination)")
    source = django_filters.CharFilter(field_name="source_host__name")
    destination = django_filters.CharFilter(field_name="dest_host__name")
    instance = django_filters.CharFilter(field_name="instance__public_id")
    owner = django_filters.CharFilter(field_name="instance__owner__username")
    q = django_filters.CharFilter(method="search", label="Search")

    class Meta:
        model = Migration
        fields = ["status", "host", "source", "destination", "instance", "owner", "q"]

    def either_end(self, qs, name, value):
        return qs.filter(Q(source_host__name=value) | Q(dest_host__name=value))

    def search(self, qs, name, value):
        return qs.filter(Q(public_id__icontains=value) | Q(instance__public_id__icontains=value)
                         | Q(instance__name__icontains=value))
