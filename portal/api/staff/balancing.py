"""Staff API: the fleet's imbalance and the balancer's recommendations; apply one or all; the policy."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from provisioning.services.balancing import (
    balancing_apply,
    balancing_policy,
    balancing_policy_set,
    balancing_recommend,
)
from provisioning.services.events import actor_name

from .common import E400, E409, STAFF, SafeParsingMixin, StaffOnly
from .serializers import (
    BalancingApplySerializer,
    BalancingPlanSerializer,
    BalancingPolicyChangeSerializer,
    BalancingPolicySerializer,
    BalancingQuerySerializer,
    BalancingRunSerializer,
)


class BalancingView(StaffOnly, SafeParsingMixin, APIView):
    @extend_schema(tags=["staff: balancing"], summary="Imbalance and recommendations (staff)",
                   description="The standard deviation of the schedulable hosts' loads, the DRS priority it "
                               "implies, and the moves that would even the fleet out at the threshold level "
                               "(`threshold`, `max_moves` override the settings). Claims and moves nothing.",
                   parameters=[BalancingQuerySerializer], responses={200: BalancingPlanSerializer, 400: E400, **STAFF})
    def get(self, request: Request) -> Response:
        ser = BalancingQuerySerializer(data=request.query_params.dict())
        ser.is_valid(raise_exception=True)
        return Response(balancing_recommend(**ser.validated_data).to_dict())


class BalancingApplyView(StaffOnly, SafeParsingMixin, APIView):
    @extend_schema(tags=["staff: balancing"], summary="Apply the recommendations, or one (staff)",
                   description="Recomputes the plan, then starts a live migration per recommendation (or only "
                               "the one for `instance`; 409 when moving it is no longer recommended).",
                   request=BalancingApplySerializer,
                   responses={202: BalancingRunSerializer, 400: E400, 409: E409, **STAFF})
    def post(self, request: Request) -> Response:
        ser = BalancingApplySerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        run = balancing_apply(actor=actor_name(request.user), **ser.validated_data)
        return Response(run.to_dict(), status=status.HTTP_202_ACCEPTED)


POLICY = dict(tags=["staff: balancing"], request=BalancingPolicySerializer,
              responses={200: BalancingPolicyChangeSerializer, 400: E400, **STAFF})


class BalancingPolicyView(StaffOnly, SafeParsingMixin, APIView):
    """The balancer's mode and threshold level as the beat task and the recommendations read them."""

    @extend_schema(tags=["staff: balancing"], summary="The balancing policy (staff)",
                   description="Mode (manual: the balancer recommends, staff apply; automatic: every beat applies "
                               "the recommendations) and threshold level 1-5, and who set them last. Until staff "
                               "set it, the policy is SKYPORT_BALANCING's default (`updated_by` empty).",
                   responses={200: BalancingPolicySerializer, **STAFF})
    def get(self, request: Request) -> Response:
        return Response(BalancingPolicySerializer(balancing_policy()).data)

    @extend_schema(summary="Set the balancing policy (staff)", description="Both fields. An event names who "
                   "changed what from what to what; setting what is in force changes nothing (`changes` empty).",
                   **POLICY)
    def put(self, request: Request) -> Response:
        return self._set(request, partial=False)

    @extend_schema(summary="Change the mode or the threshold level (staff)", description="Either field or both; "
                   "an event names who changed what from what to what.", **POLICY)
    def patch(self, request: Request) -> Response:
        return self._set(request, partial=True)

    def _set(self, request: Request, *, partial: bool) -> Response:
        ser = BalancingPolicySerializer(data=request.data, partial=partial)
        ser.is_valid(raise_exception=True)
        change = balancing_policy_set(actor=actor_name(request.user), **ser.validated_data)
        return Response({**BalancingPolicySerializer(change.policy).data, "changes": change.changes,
                         "message": change.message})
