"""REST: access keys for the EC2 Query API (create -> the secret once, list, revoke).

A module of its own, so the viewset is the same wherever the other endpoints' modules move.
"""
from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from provisioning.models import AccessKey
from provisioning.services.access_keys import access_key_create, access_key_get, access_key_list, access_key_revoke

from ..parsers import PARSER_CLASSES
from ..serializers.base import StrictBooleanField


class AccessKeySerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="access_key_id", read_only=True, help_text="the access key id (AKIA…)")
    status = serializers.SerializerMethodField(help_text="Active or Inactive (revoked)")

    class Meta:
        model = AccessKey
        fields = ["id", "description", "read_only", "status", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = fields

    def get_status(self, key: AccessKey) -> str:
        return "Active" if key.is_active else "Inactive"


class AccessKeyCreateSerializer(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    read_only = StrictBooleanField(required=False, default=False,
                                         help_text="true: the key may only call Describe*/Get* actions")


class AccessKeyCreatedSerializer(AccessKeySerializer):
    secret_access_key = serializers.CharField(help_text="returned in this response only; Skyport keeps it sealed")

    class Meta(AccessKeySerializer.Meta):
        fields = [*AccessKeySerializer.Meta.fields, "secret_access_key"]


KEY_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="access key id (AKIA…)")


@extend_schema_view(
    list=extend_schema(summary="Your access keys (for the EC2 API at /ec2/)"),
    retrieve=extend_schema(summary="One access key", parameters=[KEY_ID],
                           responses={200: AccessKeySerializer, 404: OpenApiResponse(description="Not yours.")}),
    destroy=extend_schema(summary="Revoke an access key (at once; the record stays)", parameters=[KEY_ID],
                          responses={204: None, 404: OpenApiResponse(description="Not yours.")}),
)
@extend_schema(tags=["access keys"])
class AccessKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                       viewsets.GenericViewSet):
    serializer_class = AccessKeySerializer
    parser_classes = PARSER_CLASSES
    filter_backends: list = []
    lookup_field = "access_key_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = r"[^/]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AccessKey.objects.none()
        return access_key_list(user=self.request.user)

    def get_object(self) -> AccessKey:
        return access_key_get(user=self.request.user, ref=self.kwargs["id"])

    @extend_schema(
        summary="Create an access key",
        description="Returns `secret_access_key` in this response ONLY. Use the pair with boto3/awscli: "
                    "`endpoint_url=<portal>/ec2/`, region as the README says.",
        request=AccessKeyCreateSerializer, responses={201: AccessKeyCreatedSerializer},
    )
    def create(self, request: Request) -> Response:
        ser = AccessKeyCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        created = access_key_create(user=request.user, **ser.validated_data)
        body = {**AccessKeySerializer(created.access_key).data, "secret_access_key": created.secret_access_key}
        return Response(body, status=status.HTTP_201_CREATED, headers={
            "Location": reverse("api-access-key-detail", args=[created.access_key.access_key_id]),
            "Cache-Control": "no-store"})

    def destroy(self, request: Request, id: str) -> Response:  # noqa: A002 - the URL's name
        access_key_revoke(user=request.user, ref=id)
        return Response(status=status.HTTP_204_NO_CONTENT)
