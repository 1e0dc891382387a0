"""REST: your security groups (ingress rules): create, list, get, delete (not `default`, not in use)."""
from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from provisioning.models import SecurityGroup
from provisioning.selectors import security_group_list
from provisioning.services.security_groups import security_group_create, security_group_delete

from ..base import E400, E404, OwnedResourceViewSet, err
from ..serializers import SecurityGroupCreateSerializer, SecurityGroupSerializer

SG_REF = OpenApiParameter("ref", str, OpenApiParameter.PATH, description="security group name or id (sg-…)")


@extend_schema_view(
    list=extend_schema(summary="Your security groups"),
    retrieve=extend_schema(summary="One security group", parameters=[SG_REF],
                           responses={200: SecurityGroupSerializer, 404: E404}),
    destroy=extend_schema(summary="Delete a security group", parameters=[SG_REF],
                          responses={204: None, 404: E404, 409: err("The group is in use or is `default`.")}),
)
@extend_schema(tags=["security groups"])
class SecurityGroupViewSet(OwnedResourceViewSet):
    """Your security groups (ingress rules on the instances' switch ports), by name or sg- id."""

    model = SecurityGroup
    serializer_class = SecurityGroupSerializer
    list_selector = staticmethod(security_group_list)

    def perform_destroy(self, instance: SecurityGroup) -> None:
        security_group_delete(user=self.request.user, group=instance)

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
