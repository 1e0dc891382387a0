"""REST API v1: thin viewsets that parse input, scope reads to the caller, and call one service.

Every lookup goes through a selector or service that only sees the caller's rows, so another
user's instance, key pair or security group is a 404 on every endpoint, never a 403.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from provisioning.exceptions import NotFound
from provisioning.filtersets import ApplianceFilterSet, InstanceFilterSet
from provisioning.models import Instance, KeyPair, Reservation, SecurityGroup
from provisioning.placement import PlacementRequest
from provisioning.placement.scheduler import dry_run
from provisioning.selectors import (
    appliance_get,
    appliance_list,
    instance_events,
    instance_get,
    instance_list,
    instance_type_list,
    keypair_list,
    security_group_list,
)
from provisioning.services.events import actor_name
from provisioning.services.instances import instance_action, instance_credentials
from provisioning.services.keypairs import keypair_create, keypair_delete, keypair_get, keypair_import
from provisioning.services.launch import LaunchResult, instance_launch, launch_validate
from provisioning.services.quotas import quota_set, quota_usage
from provisioning.services.security_groups import security_group_create, security_group_delete, security_group_get

from .parsers import PARSER_CLASSES
from .permissions import IsStaff
from .serializers import (
    ApplianceSerializer,
    CapacityErrorSerializer,
    ConsoleSerializer,
    CredentialsSerializer,
    DryRunSerializer,
    ErrorSerializer,
    EventSerializer,
    InstanceCreateSerializer,
    InstanceSerializer,
    InstanceTypeSerializer,
    KeyPairCreatedSerializer,
    KeyPairCreateSerializer,
    KeyPairSerializer,
    QuotaSetSerializer,
    QuotaUsageSerializer,
    ReservationCreateSerializer,
    ReservationSerializer,
    SecurityGroupCreateSerializer,
    SecurityGroupSerializer,
    TokenResponseSerializer,
)

ANY_SEGMENT = r"[^/]+"  # names such as t3.micro or "my key" are lookups too


class SafeParsingMixin:
    """JSON nested too deeply is a 400 (DRF's own parser lets Python's RecursionError through as a 500)."""

    parser_classes = PARSER_CLASSES


class SafeLookupMixin(SafeParsingMixin):
    """A NUL byte in a URL lookup is a 404, not a database error (PostgreSQL text cannot hold one)."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        for value in kwargs.values():
            if "\x00" in str(value):
                raise NotFound("No such object: identifiers and names never contain NUL characters.")


class Pagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


# --------------------------------------------------------------------------- schema helpers
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


def _err(description: str, serializer=ErrorSerializer) -> OpenApiResponse:
    return OpenApiResponse(serializer, description=description)


E400 = _err("Invalid input: one key per bad field, each with what to fix, and `code`.")
E404 = _err("Not found, or not yours.")
E409_STATE = _err("The instance's current state forbids this action.")
LAUNCH_ERRORS = {
    400: _err("Invalid field (named), or quota exceeded (`code: quota_exceeded`)."),
    409: _err("Fewer than the minimum number of instances fit on the fleet; `explanation` says why, per "
              "placement filter.", CapacityErrorSerializer),
    422: _err("The Idempotency-Key was already used with a different body (`code: idempotency_key_reused`)."),
}


def _launch(request: Request, serializer_class, *, scope: str) -> LaunchResult:
    """Parse, then one call: the service validates, launches and honours the Idempotency-Key."""
    ser = serializer_class(data=request.data)
    ser.is_valid(raise_exception=True)
    return instance_launch(user=request.user, idempotency_key=request.headers.get("Idempotency-Key"),
                           idempotency_scope=scope, **ser.launch_fields())


def _instances_qs(user) -> QuerySet[Instance]:
    return instance_list(user=user).select_related("reservation", "placement_group").prefetch_related(
        "security_groups", "tags")


# --------------------------------------------------------------------------- auth
class TokenView(SafeParsingMixin, ObtainAuthToken):
    """Exchange a username and password for an API token (the same token until revoked)."""

    @extend_schema(
        tags=["auth"], auth=[], request=AuthTokenSerializer,
        responses={200: TokenResponseSerializer, 400: _err("Wrong username or password.")},
        summary="Get an API token",
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    @extend_schema(tags=["auth"], request=None, responses={204: None, 401: _err("Not logged in.")},
                   summary="Revoke your API token")
    def delete(self, request, *args, **kwargs):
        if not request.user or not request.user.is_authenticated:
            raise NotAuthenticated()
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------- catalog
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


# --------------------------------------------------------------------------- instances
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
        return _instances_qs(self.request.user)

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
            "appliance": "ubuntu-lamp", "instance_type": "t3.small", "name": "web-1", "key_name": "laptop",
            "rules": [{"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"}]})],
    )
    def create(self, request: Request) -> Response:
        result = _launch(request, InstanceCreateSerializer, scope="instances")
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
        return Response({"instance_id": inst.public_id, "output": inst.console_log})

    @extend_schema(summary="The instance's event log (newest first)", parameters=[INSTANCE_ID],
                   responses={200: EventSerializer(many=True), 404: E404})
    @action(detail=True, methods=["get"], filter_backends=[], serializer_class=EventSerializer)
    def events(self, request: Request, id: str) -> Response:  # noqa: A002
        inst = self.get_object()
        page = self.paginate_queryset(instance_events(instance=inst).select_related("instance", "host"))
        return self.get_paginated_response(EventSerializer(page, many=True).data)

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


# --------------------------------------------------------------------------- reservations
RESERVATION_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="reservation id (r-…)")


@extend_schema_view(
    list=extend_schema(summary="Your reservations (launch requests)"),
    retrieve=extend_schema(summary="One reservation with its instances", parameters=[RESERVATION_ID],
                           responses={200: ReservationSerializer, 404: E404}),
)
@extend_schema(tags=["instances"])
class ReservationViewSet(SafeLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ReservationSerializer
    pagination_class = Pagination
    filter_backends: list = []
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = ANY_SEGMENT

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Reservation.objects.none()
        user = self.request.user
        return (
            Reservation.objects.filter(owner=user)
            .prefetch_related(Prefetch("instances", queryset=_instances_qs(user).order_by("id")))
            .order_by("-created_at", "-id")
        )

    def get_object(self) -> Reservation:
        reservation = self.get_queryset().filter(public_id=self.kwargs["id"]).first()
        if reservation is None:
            raise NotFound(f"Reservation '{self.kwargs['id']}' does not exist.")
        return reservation

    @extend_schema(
        summary="Launch several instances at once",
        description="EC2 semantics: launches as many as fit up to `max_count`, or none (409 with a per-filter "
                    "explanation) when fewer than `min_count` fit. Quota is checked for `min_count` (400).",
        request=ReservationCreateSerializer, parameters=[IDEMPOTENCY_KEY, REPLAYED],
        responses={202: ReservationSerializer, **LAUNCH_ERRORS},
    )
    def create(self, request: Request) -> Response:
        result = _launch(request, ReservationCreateSerializer, scope="reservations")
        reservation = self.get_queryset().get(pk=result.reservation.pk)
        headers = {"Location": reverse("api-reservation-detail", args=[reservation.public_id])}
        if result.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(self.get_serializer(reservation).data, status=status.HTTP_202_ACCEPTED, headers=headers)


# --------------------------------------------------------------------------- key pairs
KEY_REF = OpenApiParameter("ref", str, OpenApiParameter.PATH, description="key pair name or id (key-…)")


@extend_schema_view(
    list=extend_schema(summary="Your key pairs (public keys only)"),
    retrieve=extend_schema(summary="One key pair", parameters=[KEY_REF], responses={200: KeyPairSerializer,
                                                                                    404: E404}),
    destroy=extend_schema(summary="Delete a key pair", parameters=[KEY_REF], responses={204: None, 404: E404}),
)
@extend_schema(tags=["key pairs"])
class KeyPairViewSet(SafeLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                     viewsets.GenericViewSet):
    serializer_class = KeyPairSerializer
    pagination_class = Pagination
    filter_backends: list = []
    lookup_field = "public_id"
    lookup_url_kwarg = "ref"
    lookup_value_regex = ANY_SEGMENT

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return KeyPair.objects.none()
        return keypair_list(user=self.request.user)

    def get_object(self):
        return keypair_get(user=self.request.user, ref=self.kwargs["ref"])

    @extend_schema(
        summary="Create or import a key pair",
        description="Without `public_key`: generates a pair and returns the private key (`private_key`, PEM) in "
                    "this response ONLY; it is never stored. With `public_key`: imports it.",
        request=KeyPairCreateSerializer,
        responses={201: KeyPairCreatedSerializer, 400: E400},
    )
    def create(self, request: Request) -> Response:
        ser = KeyPairCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        if data["public_key"].strip():
            kp = keypair_import(user=request.user, name=data["name"], public_key=data["public_key"])
            private = None
        else:
            created = keypair_create(user=request.user, name=data["name"], key_type=data["key_type"])
            kp, private = created.key_pair, created.private_key_pem
        body = {**KeyPairSerializer(kp).data, "private_key": private}
        return Response(body, status=status.HTTP_201_CREATED,
                        headers={"Location": reverse("api-keypair-detail", args=[kp.public_id]),
                                 "Cache-Control": "no-store"})

    def destroy(self, request: Request, ref: str) -> Response:
        keypair_delete(user=request.user, ref=ref)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------- security groups
SG_REF = OpenApiParameter("ref", str, OpenApiParameter.PATH, description="security group name or id (sg-…)")



@extend_schema_view(
    list=extend_schema(summary="Your security groups"),
    retrieve=extend_schema(summary="One security group", parameters=[SG_REF],
                           responses={200: SecurityGroupSerializer, 404: E404}),
    destroy=extend_schema(summary="Delete a security group", parameters=[SG_REF],
                          responses={204: None, 404: E404, 409: _err("The group is in use or is `default`.")}),
)
@extend_schema(tags=["security groups"])
class SecurityGroupViewSet(SafeLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                           viewsets.GenericViewSet):
    serializer_class = SecurityGroupSerializer
    pagination_class = Pagination
    filter_backends: list = []
    lookup_field = "public_id"
    lookup_url_kwarg = "ref"
    lookup_value_regex = ANY_SEGMENT

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return SecurityGroup.objects.none()
        return security_group_list(user=self.request.user)

    def get_object(self):
        return security_group_get(user=self.request.user, ref=self.kwargs["ref"])

    @extend_schema(
        summary="Create a security group",
        description="`rules`: ingress rules `{protocol, from_port, to_port, cidr}`; protocol tcp, udp, icmp or -1.",
        request=SecurityGroupCreateSerializer, responses={201: SecurityGroupSerializer, 400: E400},
        examples=[OpenApiExample("web", request_only=True, value={
            "name": "web", "description": "HTTP and SSH",
            "rules": [{"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"},
                      {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "203.0.113.0/24"}]})],
    )
    def create(self, request: Request) -> Response:
        ser = SecurityGroupCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        group = security_group_create(user=request.user, name=data["name"], description=data["description"],
                                      rules=data["rules"])
        group = self.get_queryset().get(pk=group.pk)
        return Response(SecurityGroupSerializer(group).data, status=status.HTTP_201_CREATED,
                        headers={"Location": reverse("api-security-group-detail", args=[group.public_id])})

    def destroy(self, request: Request, ref: str) -> Response:
        security_group_delete(user=request.user, group=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------- quotas
class QuotaView(SafeParsingMixin, APIView):
    @extend_schema(tags=["quota"], summary="Your quota: limits, usage and what remains",
                   responses={200: QuotaUsageSerializer})
    def get(self, request: Request) -> Response:
        return Response(quota_usage(user=request.user).as_dict())


class UserQuotaView(SafeLookupMixin, APIView):
    permission_classes = [IsStaff]

    def _user(self, username: str):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise NotFound(f"User '{username}' does not exist.")
        return user

    @extend_schema(tags=["quota"], summary="A user's quota (staff)",
                   responses={200: QuotaUsageSerializer, 403: _err("Not staff."), 404: E404})
    def get(self, request: Request, username: str) -> Response:
        return Response(quota_usage(user=self._user(username)).as_dict())

    @extend_schema(tags=["quota"], summary="Set a user's quota (staff)", request=QuotaSetSerializer,
                   responses={200: QuotaUsageSerializer, 400: E400, 403: _err("Not staff."), 404: E404})
    def put(self, request: Request, username: str) -> Response:
        user = self._user(username)
        ser = QuotaSetSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        quota_set(user=user, actor=actor_name(request.user), **ser.validated_data)
        return Response(quota_usage(user=user).as_dict())


# --------------------------------------------------------------------------- placement (staff)
class PlacementDryRunView(SafeParsingMixin, APIView):
    """Where would this request go, and why not elsewhere (nothing is claimed)."""

    permission_classes = [IsStaff]

    @extend_schema(tags=["placement"], summary="Dry-run placement (staff)", request=DryRunSerializer,
                   responses={200: OpenApiTypes.OBJECT, 400: E400, 403: _err("Not staff.")})
    def post(self, request: Request) -> Response:
        ser = DryRunSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        spec = launch_validate(user=request.user, **ser.validated_data)
        req = PlacementRequest(appliance=spec.appliance, instance_type=spec.instance_type,
                               availability_zone=spec.availability_zone, virt_mode=spec.virt_mode)
        return Response(dry_run(req))
