"""REST: reservations (EC2 min_count..max_count launches), one `instance_launch` call per create."""
from __future__ import annotations

from django.db.models import Prefetch
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from provisioning.exceptions import NotFound
from provisioning.models import Reservation
from provisioning.services.launch import instance_launch

from ..base import ANY_SEGMENT, E404, Pagination, SafeLookupMixin
from ..serializers import ReservationCreateSerializer, ReservationSerializer
from .instances import IDEMPOTENCY_KEY, LAUNCH_ERRORS, REPLAYED, instances_qs

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
            .prefetch_related(Prefetch("instances", queryset=instances_qs(user).order_by("id")))
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
        ser = ReservationCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        result = instance_launch(user=request.user, idempotency_key=request.headers.get("Idempotency-Key"),
                                 idempotency_scope="reservations", **ser.launch_fields())
        reservation = self.get_queryset().get(pk=result.reservation.pk)
        headers = {"Location": reverse("api-reservation-detail", args=[reservation.public_id])}
        if result.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(self.get_serializer(reservation).data, status=status.HTTP_202_ACCEPTED, headers=headers)
