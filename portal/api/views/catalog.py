"""REST: the marketplace (appliances by ami- id or slug) and the instance types."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets

from provisioning.exceptions import NotFound
from provisioning.filtersets import ApplianceFilterSet
from provisioning.selectors import appliance_get, appliance_list, instance_type_list

from ..base import ANY_SEGMENT, E404, Pagination, SafeLookupMixin
from ..serializers import ApplianceSerializer, InstanceTypeSerializer

APPLIANCE_REF = OpenApiParameter("ref", str, OpenApiParameter.PATH, description="AMI id (ami-…) or slug")


@extend_schema_view(
    list=extend_schema(summary="Browse the marketplace", description="Filter with `os_family`, `category`, "
                       "`architecture`, `virt_mode`; search with `q` (or `search`); order with `ordering`."),
    retrieve=extend_schema(summary="One appliance", parameters=[APPLIANCE_REF], responses={200: ApplianceSerializer,
                                                                                           404: E404}),
)
@extend_schema(tags=["marketplace"])
class ApplianceViewSet(SafeLookupMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = ApplianceSerializer
    pagination_class = Pagination
    filterset_class = ApplianceFilterSet
    search_fields = ["name", "slug", "os_name", "os_version", "stack", "vendor", "category", "description"]
    ordering_fields = ["name", "image_size_mib", "min_vcpus", "min_memory_mib", "min_disk_gib", "created_at"]
    ordering = ["name"]
    lookup_field = "public_id"
    lookup_url_kwarg = "ref"
    lookup_value_regex = ANY_SEGMENT

    def get_queryset(self):
        return appliance_list()

    def get_object(self):
        return appliance_get(ref=self.kwargs["ref"])


@extend_schema_view(
    list=extend_schema(summary="Instance types (sizes)"),
    retrieve=extend_schema(summary="One instance type", responses={200: InstanceTypeSerializer, 404: E404}),
)
@extend_schema(tags=["marketplace"])
class InstanceTypeViewSet(SafeLookupMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = InstanceTypeSerializer
    pagination_class = Pagination
    filter_backends: list = []
    lookup_field = "name"
    lookup_value_regex = ANY_SEGMENT

    def get_queryset(self):
        return instance_type_list()

    def get_object(self):
        itype = instance_type_list().filter(name=self.kwargs["name"]).first()
        if itype is None:
            raise NotFound(f"Instance type '{self.kwargs['name']}' does not exist.")
        return itype
