"""Staff API: the fleet's hosts (utilisation, state, guests) and their maintenance: preflight, enter,
cancel, exit, hypervisor upgrade. Each call is one service call; the services write the events."""
from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response

from provisioning.filtersets import HostFilterSet
from provisioning.selectors import host_get, host_guests, host_list
from provisioning.services.events import actor_name
from provisioning.services.maintenance import (
    host_hypervisor_upgrade,
    maintenance_cancel,
    maintenance_current,
    maintenance_enter,
    maintenance_exit,
    maintenance_preflight,
)

from .common import ANY_SEGMENT, E400, E404, E409, STAFF, Pagination, SafeLookupMixin, StaffOnly, err
from .serializers import (
    CancelSerializer,
    HostDetailSerializer,
    HostSerializer,
    MaintenanceRefusedSerializer,
    MaintenanceSerializer,
    NoteSerializer,
    PreflightSerializer,
    UpgradeSerializer,
)

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

    def _maintenance(self, m) -> Response:
        m.refresh_from_db()
        return Response(MaintenanceSerializer(m).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="Maintenance preflight: where each guest would go, or why not (staff)",
                   description="A dry run: nothing is claimed or moved. Each guest gets the destination the "
                               "placement filters give it (its zone and mode kept, the host's larger guests "
                               "counted first), the memory to copy and the simulator's predicted time and "
                               "downtime; a guest that cannot move says why.",
                   parameters=[HOST_NAME], responses={200: PreflightSerializer, 404: E404, **STAFF})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def preflight(self, request: Request, name: str) -> Response:
        return Response(maintenance_preflight(host=self.get_object()).to_dict())

    @extend_schema(summary="The host's current maintenance: what is left and why (staff)", parameters=[HOST_NAME],
                   responses={200: MaintenanceSerializer, 404: err("No such host, or no maintenance under way."),
                              **STAFF}, methods=["GET"])
    @extend_schema(summary="Enter maintenance (staff)",
                   description="Runs the preflight; refuses (409, with the preflight) unless every guest can move. "
                               "Then the host takes no placements (`entering_maintenance`), its running guests "
                               "live-migrate (queued beyond the concurrency limits), its stopped guests are "
                               "re-homed, and it becomes `maintenance` only once empty. Poll this URL.",
                   request=NoteSerializer, parameters=[HOST_NAME], methods=["POST"],
                   responses={202: MaintenanceSerializer, 400: E400, 404: E404,
                              409: err("A guest cannot move (`preflight` lists each) or the host is already "
                                       "entering or in maintenance.", MaintenanceRefusedSerializer), **STAFF})
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def maintenance(self, request: Request, name: str) -> Response:
        host = self.get_object()
        if request.method == "GET":
            m = maintenance_current(host=host)
            if m is None:
                return Response({"code": "not_found", "detail": f"{host.name} has no maintenance under way "
                                 f"(it is {host.get_state_display()})."}, status=status.HTTP_404_NOT_FOUND)
            return Response(MaintenanceSerializer(m).data)
        ser = NoteSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        return self._maintenance(maintenance_enter(host=host, actor=actor_name(request.user), **ser.validated_data))

    @extend_schema(summary="Cancel entering maintenance (staff)",
                   description="Queued moves are dropped, running ones finish (or are aborted with "
                               "`abort_running`), the host is `enabled` again; every guest keeps running.",
                   request=CancelSerializer, parameters=[HOST_NAME],
                   responses={202: MaintenanceSerializer, 400: E400, 404: E404, 409: E409, **STAFF})
    @action(detail=True, methods=["post"], url_path="maintenance/cancel", filter_backends=[],
            pagination_class=None)
    def maintenance_cancel(self, request: Request, name: str) -> Response:
        ser = CancelSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        return self._maintenance(maintenance_cancel(host=self.get_object(), actor=actor_name(request.user),
                                                    **ser.validated_data))

    @extend_schema(summary="Exit maintenance: back in service (staff)", request=NoteSerializer, parameters=[HOST_NAME],
                   responses={202: MaintenanceSerializer, 400: E400, 404: E404, 409: E409, **STAFF})
    @action(detail=True, methods=["post"], url_path="maintenance/exit", filter_backends=[], pagination_class=None)
    def maintenance_exit(self, request: Request, name: str) -> Response:
        ser = NoteSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        return self._maintenance(maintenance_exit(host=self.get_object(), actor=actor_name(request.user),
                                                  **ser.validated_data))

    @extend_schema(summary="Upgrade the hypervisor of a host in maintenance (staff)", request=UpgradeSerializer,
                   parameters=[HOST_NAME],
                   responses={200: HostSerializer, 400: E400, 404: E404,
                              409: err("The host is not in maintenance."), **STAFF})
    @action(detail=True, methods=["post"], url_path="hypervisor-upgrade", filter_backends=[], pagination_class=None)
    def hypervisor_upgrade(self, request: Request, name: str) -> Response:
        ser = UpgradeSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        host_hypervisor_upgrade(host=self.get_object(), version=ser.validated_data["version"],
                                actor=actor_name(request.user))
        return Response(HostSerializer(self.get_object()).data)
