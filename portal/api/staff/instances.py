"""Staff API: every tenant's instances, and the operator's actions on them (the same services the
owner's API calls; `instance_action` already lets staff act on any instance)."""
from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response

from provisioning.filtersets import StaffInstanceFilterSet
from provisioning.models import Instance
from provisioning.selectors import instance_get_any, instance_list_all
from provisioning.services.events import actor_name
from provisioning.services.instances import instance_action
from provisioning.services.migrations import migration_start

from .common import ANY_SEGMENT, E400, E404, E409, STAFF, Pagination, SafeLookupMixin, StaffOnly
from .serializers import InstanceMigrateSerializer, MigrationSerializer, StaffInstanceSerializer

INSTANCE_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="instance id (i-…)")
ACTION = dict(request=None, parameters=[INSTANCE_ID],
              responses={202: StaffInstanceSerializer, 404: E404, 409: E409, **STAFF})


@extend_schema_view(
    list=extend_schema(summary="Every tenant's instances (staff)",
                       description="Filter with `state` (repeatable), `host`, `owner`, `availability_zone`, "
                                   "`task`, `q` (id, name or address).",
                       responses={200: StaffInstanceSerializer(many=True), **STAFF}),
    retrieve=extend_schema(summary="Any tenant's instance (staff)", parameters=[INSTANCE_ID],
                           responses={200: StaffInstanceSerializer, 404: E404, **STAFF}),
)
@extend_schema(tags=["staff: instances"])
class StaffInstanceViewSet(StaffOnly, SafeLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                           viewsets.GenericViewSet):
    serializer_class = StaffInstanceSerializer
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = StaffInstanceFilterSet
    ordering_fields = ["created_at", "launched_at", "name", "state"]
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = ANY_SEGMENT

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Instance.objects.none()
        return instance_list_all().order_by("-created_at", "-id")

    def get_object(self) -> Instance:
        return instance_get_any(public_id=self.kwargs["id"])

    def _act(self, request: Request, name: str) -> Response:
        instance_action(user=request.user, instance=self.get_object(), action=name)
        return Response(self.get_serializer(self.get_object()).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="Stop any tenant's running instance (staff)", **ACTION)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, id: str) -> Response:  # noqa: A002 - the URL's name
        return self._act(request, "stop")

    @extend_schema(summary="Terminate any tenant's instance (staff)", **ACTION)
    @action(detail=True, methods=["post"])
    def terminate(self, request: Request, id: str) -> Response:  # noqa: A002
        return self._act(request, "terminate")

    @extend_schema(summary="Live-migrate any tenant's running instance (staff)",
                   description="Same as POST /api/v1/staff/migrations/ for this instance: the scheduler picks "
                               "the destination unless one is named.", request=InstanceMigrateSerializer,
                   parameters=[INSTANCE_ID],
                   responses={202: MigrationSerializer, 400: E400, 404: E404, 409: E409, **STAFF})
    @action(detail=True, methods=["post"])
    def migrate(self, request: Request, id: str) -> Response:  # noqa: A002
        ser = InstanceMigrateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        mig = migration_start(actor=actor_name(request.user), instance=self.get_object(), **ser.validated_data)
        return Response(MigrationSerializer(mig).data, status=status.HTTP_202_ACCEPTED)
