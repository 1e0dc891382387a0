"""REST: your quota, and a user's quota for staff (set through `quota_set`, which logs it)."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from provisioning.exceptions import NotFound
from provisioning.services.events import actor_name
from provisioning.services.quotas import quota_set, quota_usage

from ..base import E400, E404, SafeLookupMixin, SafeParsingMixin, err
from ..permissions import IsStaff
from ..serializers import QuotaSetSerializer, QuotaUsageSerializer


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
                   responses={200: QuotaUsageSerializer, 403: err("Not staff."), 404: E404})
    def get(self, request: Request, username: str) -> Response:
        return Response(quota_usage(user=self._user(username)).as_dict())

    @extend_schema(tags=["quota"], summary="Set a user's quota (staff)", request=QuotaSetSerializer,
                   responses={200: QuotaUsageSerializer, 400: E400, 403: err("Not staff."), 404: E404})
    def put(self, request: Request, username: str) -> Response:
        user = self._user(username)
        ser = QuotaSetSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        quota_set(user=user, actor=actor_name(request.user), **ser.validated_data)
        return Response(quota_usage(user=user).as_dict())
