"""REST (staff): a placement dry run: where would this request go, and why not elsewhere."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from provisioning.placement import PlacementRequest
from provisioning.placement.scheduler import dry_run
from provisioning.services.launch import launch_validate

from ..base import E400, SafeParsingMixin, err
from ..permissions import IsStaff
from ..serializers import DryRunSerializer


class PlacementDryRunView(SafeParsingMixin, APIView):
    """Where would this request go, and why not elsewhere (nothing is claimed)."""

    permission_classes = [IsStaff]

    @extend_schema(tags=["placement"], summary="Dry-run placement (staff)", request=DryRunSerializer,
                   responses={200: OpenApiTypes.OBJECT, 400: E400, 403: err("Not staff.")})
    def post(self, request: Request) -> Response:
        ser = DryRunSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        spec = launch_validate(user=request.user, **ser.validated_data)
        req = PlacementRequest(appliance=spec.appliance, instance_type=spec.instance_type,
                               availability_zone=spec.availability_zone, virt_mode=spec.virt_mode)
        return Response(dry_run(req))
