"""Staff API: live migrations of any tenant's instance: start, list, detail with every round, abort,
force-complete (with its cost shown first)."""
from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response

from provisioning.exceptions import NotFound
from provisioning.filtersets import MigrationFilterSet
from provisioning.models import Migration
from provisioning.selectors import instance_get_any, migration_list
from provisioning.services.events import actor_name
from provisioning.services.migrations import (
    migration_abort,
    migration_force_complete,
    migration_force_preview,
    migration_start,
)

from .common import ANY_SEGMENT, E400, E404, E409, STAFF, Pagination, SafeLookupMixin, StaffOnly, err
from .serializers import (
    ForceCompleteSerializer,
    MigrationCreateSerializer,
    MigrationDetailSerializer,
    MigrationSerializer,
)

MIGRATION_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="migration id (mig-…)")
E409_START = err("The instance is not running, is busy, or is already migrating; or no host can take it "
                 "(`explanation`, per filter).")


@extend_schema_view(
    list=extend_schema(summary="Live migrations (staff)", description="Newest first. Filter with `status` "
                       "(repeatable), `host` (either end), `source`, `destination`, `instance`, `owner`.",
                       responses={200: MigrationSerializer(many=True), **STAFF}),
    retrieve=extend_schema(summary="One migration with every round (staff)", parameters=[MIGRATION_ID],
                           responses={200: MigrationDetailSerializer, 404: E404, **STAFF}),
)
@extend_schema(tags=["staff: migrations"])
class MigrationViewSet(StaffOnly, SafeLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                       viewsets.GenericViewSet):
    serializer_class = MigrationSerializer
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = MigrationFilterSet
    ordering_fields = ["created_at", "finished_at", "status"]
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = ANY_SEGMENT

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Migration.objects.none()
        return migration_list().select_related("instance__owner")

    def get_object(self) -> Migration:
        mig = self.get_queryset().filter(public_id=self.kwargs["id"]).first()
        if mig is None:
            raise NotFound(f"Migration '{self.kwargs['id']}' does not exist.")
        return mig

    def retrieve(self, request: Request, id: str) -> Response:  # noqa: A002 - the URL's name
        return Response(MigrationDetailSerializer(self.get_object()).data)

    @extend_schema(summary="Live-migrate a running instance (staff)",
                   description="The destination is chosen by the scheduler (the launch's filters and weighers, "
                               "the source excluded), or named and checked by the same filters (400 with each "
                               "filter's refusal). 202: poll the migration.",
                   request=MigrationCreateSerializer,
                   responses={202: MigrationSerializer, 400: E400, 404: E404, 409: E409_START, **STAFF})
    def create(self, request: Request) -> Response:
        ser = MigrationCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        inst = instance_get_any(public_id=data.pop("instance"))
        mig = migration_start(actor=actor_name(request.user), instance=inst, **data)
        return Response(MigrationSerializer(self.get_queryset().get(pk=mig.pk)).data,
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="Abort a migration (staff)", description="In any unfinished status: the guest keeps "
                   "running on the source, the destination's claim is released.", request=None,
                   parameters=[MIGRATION_ID], responses={202: MigrationSerializer, 404: E404, 409: E409, **STAFF})
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def abort(self, request: Request, id: str) -> Response:  # noqa: A002
        migration_abort(actor=actor_name(request.user), migration=self.get_object())
        return Response(MigrationSerializer(self.get_object()).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="What force-complete would cost (staff)", parameters=[MIGRATION_ID, ForceCompleteSerializer],
                   responses={200: dict, 400: E400, 404: E404, 409: E409, **STAFF}, methods=["GET"])
    @extend_schema(summary="Force a running migration to complete (staff)",
                   description="`auto_converge` throttles the guest until it converges; `stop_and_copy` pauses "
                               "it now for the downtime the GET preview shows.", request=ForceCompleteSerializer,
                   parameters=[MIGRATION_ID], responses={202: dict, 400: E400, 404: E404, 409: E409, **STAFF},
                   methods=["POST"])
    @action(detail=True, methods=["get", "post"], url_path="force-complete", filter_backends=[],
            pagination_class=None)
    def force_complete(self, request: Request, id: str) -> Response:  # noqa: A002
        data = request.query_params.dict() if request.method == "GET" else request.data
        ser = ForceCompleteSerializer(data=data)
        ser.is_valid(raise_exception=True)
        mig = self.get_object()
        if request.method == "GET":
            return Response(migration_force_preview(migration=mig, mode=ser.validated_data["mode"]))
        applied = migration_force_complete(actor=actor_name(request.user), migration=mig,
                                           mode=ser.validated_data["mode"])
        return Response(applied, status=status.HTTP_202_ACCEPTED)
