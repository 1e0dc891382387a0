"""REST: your instances: launch (one `instance_launch` call), read, act, console, events, credentials."""
from __future__ import annotations

from django.db.models import QuerySet
from django.urls import reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response

from portal.visibility import mask_host
from provisioning.exceptions import NotFound
from provisioning.filtersets import InstanceFilterSet
from provisioning.models import Instance
from provisioning.selectors import instance_events, instance_get, instance_list
from provisioning.services.instances import instance_action, instance_credentials
from provisioning.services.launch import instance_launch

from ..base import ANY_SEGMENT, E404, E409_STATE, Pagination, SafeLookupMixin, err
from ..serializers import (
    CapacityErrorSerializer,
    ConsoleSerializer,
    CredentialsSerializer,
    EventSerializer,
    InstanceCreateSerializer,
    InstanceSerializer,
)

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER,
    description="Make the create safe to retry: the same key with the same body returns the original result "
                "(same ids, `Idempotent-Replayed: true`); the same key with another body is a 422. Keys are "
                "per user and endpoint, kept 24 hours. A UUID is a good key.",
)
REPLAYED = OpenApiParameter(
    "Idempotent-Replayed", str, OpenApiParameter.HEADER, response=[202], enum=["true"],
    description="Present when this response replays an earlier request with the same Idempotency-Key.",
)


LAUNCH_ERRORS = {
    400: err("Invalid field (named), or quota exceeded (`code: quota_exceeded`)."),
    409: err("Fewer than the minimum number of instances fit on the fleet; `explanation` says why, per "
              "placement filter.", CapacityErrorSerializer),
    422: err("The Idempotency-Key was already used with a different body (`code: idempotency_key_reused`)."),
}


def instances_qs(user) -> QuerySet[Instance]:
    return instance_list(user=user).select_related("reservation", "placement_group").prefetch_related(
        "security_groups", "tags")


INSTANCE_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="instance id (i-…)")
ACTION_SCHEMA = dict(
    request=None, parameters=[INSTANCE_ID],
    responses={202: InstanceSerializer, 404: E404, 409: E409_STATE},
)


@extend_schema_view(
    list=extend_schema(summary="Your instances", description="Filter with `state` (repeatable), `q` and `tag` "
                                                             "(`key` or `key=value`)."),
    retrieve=extend_schema(summary="One of your instances", parameters=[INSTANCE_ID],
                           responses={200: InstanceSerializer, 404: E404}),
)
@extend_schema(tags=["instances"])
class InstanceViewSet(SafeLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = InstanceSerializer
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = InstanceFilterSet
    ordering_fields = ["created_at", "launched_at", "name", "state"]
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = ANY_SEGMENT

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Instance.objects.none()
        return instances_qs(self.request.user)

    def get_object(self) -> Instance:
        inst = instance_get(user=self.request.user, public_id=self.kwargs["id"])
        return self.get_queryset().get(pk=inst.pk)

    @extend_schema(
        summary="Launch an instance",
        description="Validates every field (all bad fields named at once), checks your quota, places the "
                    "instance on a host and claims its capacity, then boots it asynchronously: the answer is "
                    "202 with `state: pending`; poll the instance until `running`.",
        request=InstanceCreateSerializer, parameters=[IDEMPOTENCY_KEY, REPLAYED],
        responses={202: InstanceSerializer, **LAUNCH_ERRORS},
        examples=[OpenApiExample("LAMP server", request_only=True, value={
            "appliance": "ubuntu-lamp", "instance_type": "t3.small", "name": "web-1",
            "rules": [{"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"}]})],
    )
    def create(self, request: Request) -> Response:
        ser = InstanceCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        result = instance_launch(user=request.user, idempotency_key=request.headers.get("Idempotency-Key"),
                                 idempotency_scope="instances", **ser.launch_fields())
        inst = self.get_queryset().filter(reservation=result.reservation).order_by("id").first()
        if inst is None:  # the replayed reservation's instance was deleted meanwhile
            raise NotFound(f"Reservation {result.reservation.public_id} has no instance any more.")
        headers = {"Location": reverse("api-instance-detail", args=[inst.public_id])}
        if result.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(self.get_serializer(inst).data, status=status.HTTP_202_ACCEPTED, headers=headers)

    def _act(self, request: Request, name: str) -> Response:
        inst = self.get_object()
        instance_action(user=request.user, instance=inst, action=name)
        return Response(self.get_serializer(self.get_object()).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="Stop (power off) a running instance", **ACTION_SCHEMA)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, id: str) -> Response:  # noqa: A002 - the URL's name
        return self._act(request, "stop")

    @extend_schema(summary="Start a stopped instance", **ACTION_SCHEMA)
    @action(detail=True, methods=["post"])
    def start(self, request: Request, id: str) -> Response:  # noqa: A002
        return self._act(request, "start")

    @extend_schema(summary="Reboot a running instance", **ACTION_SCHEMA)
    @action(detail=True, methods=["post"])
    def reboot(self, request: Request, id: str) -> Response:  # noqa: A002
        return self._act(request, "reboot")

    @extend_schema(summary="Terminate an instance (releases its capacity)", **ACTION_SCHEMA)
    @action(detail=True, methods=["post"])
    def terminate(self, request: Request, id: str) -> Response:  # noqa: A002
        return self._act(request, "terminate")

    @extend_schema(summary="Console output", parameters=[INSTANCE_ID],
                   responses={200: ConsoleSerializer, 404: E404})
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def console(self, request: Request, id: str) -> Response:  # noqa: A002
        inst = self.get_object()
        return Response({"instance_id": inst.public_id,
                         "output": mask_host(inst.console_log, inst.host if inst.host_id else None, request.user)})

    @extend_schema(summary="The instance's event log (newest first)", parameters=[INSTANCE_ID],
                   responses={200: EventSerializer(many=True), 404: E404})
    @action(detail=True, methods=["get"], filter_backends=[], serializer_class=EventSerializer)
    def events(self, request: Request, id: str) -> Response:  # noqa: A002
        inst = self.get_object()
        page = self.paginate_queryset(instance_events(instance=inst).select_related("instance", "host"))
        return self.get_paginated_response(EventSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        summary="Login credentials",
        description="The login user and how to connect. A generated password (Windows, or no key pair) is "
                    "returned exactly once, by the first call after the instance is running.",
        request=None, parameters=[INSTANCE_ID], responses={200: CredentialsSerializer, 404: E404},
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def credentials(self, request: Request, id: str) -> Response:  # noqa: A002
        inst = self.get_object()
        data = instance_credentials(user=request.user, instance=inst)
        return Response(data, headers={"Cache-Control": "no-store"})
