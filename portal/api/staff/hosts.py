"""Staff API: the fleet's hosts, their utilisation, state and guests."""
from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response

from provisioning.filtersets import HostFilterSet
from provisioning.selectors import host_get, host_guests, host_list

from .common import ANY_SEGMENT, E404, STAFF, Pagination, SafeLookupMixin, StaffOnly
from .serializers import HostDetailSerializer, HostSerializer

HOST_NAME = OpenApiParameter("name", str, OpenApiParameter.PATH, description="host name, e.g. hv-01")


@extend_schema_view(
    list=extend_schema(summary="The fleet (staff)", description="Every host with its state, limits, what its "
                       "claims hold and the utilisation ratios. Filter with `state` (repeatable), "
                       "`availability_zone`, `q` (name or CPU model); order with `ordering`.",
                       responses={200: HostSerializer(many=True), **STAFF}),
    retrieve=extend_schema(summary="One host with its guests (staff)", parameters=[HOST_NAME],
                           responses={200: HostDetailSerializer, 404: E404, **STAFF}),
)
@extend_schema(tags=["staff: hosts"])
class HostViewSet(StaffOnly, SafeLookupMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = HostSerializer
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = HostFilterSet
    ordering_fields = ["name", "availability_zone", "state", "memory_mib_used", "vcpus_used", "guests"]
    ordering = ["name"]
    lookup_field = "name"
    lookup_value_regex = ANY_SEGMENT

    def get_queryset(self):
        return host_list()

    def get_object(self):
        return host_get(name=self.kwargs["name"])

    def retrieve(self, request: Request, name: str) -> Response:
        host = self.get_object()
        return Response(HostDetailSerializer(host, context={"guests": host_guests(host=host)}).data)
