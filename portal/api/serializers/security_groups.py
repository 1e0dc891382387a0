"""REST shapes of security groups and their ingress rules."""
from __future__ import annotations

from rest_framework import serializers

from provisioning.models import SecurityGroup

from .base import RuleListField, StrictSerializer, TextField


class SecurityGroupRuleSerializer(serializers.Serializer):
    protocol = serializers.CharField()
    from_port = serializers.IntegerField()
    to_port = serializers.IntegerField()
    cidr = serializers.CharField()
    description = serializers.CharField()


class SecurityGroupSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True, help_text="security group id (sg-…)")
    rules = SecurityGroupRuleSerializer(many=True, read_only=True)

    class Meta:
        model = SecurityGroup
        fields = ["id", "name", "description", "rules", "created_at"]
        read_only_fields = fields


class SecurityGroupCreateSerializer(StrictSerializer):
    name = TextField(allow_blank=True)
    description = TextField(required=False, allow_blank=True, default="", max_length=255)
    rules = RuleListField(required=False, default=list)
