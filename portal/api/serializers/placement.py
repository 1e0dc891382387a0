"""REST shape of a staff placement dry run."""
from __future__ import annotations

from rest_framework import serializers

from .base import StrictSerializer


class DryRunSerializer(StrictSerializer):
    appliance = serializers.CharField()
    instance_type = serializers.CharField()
    availability_zone = serializers.CharField(required=False, allow_blank=True, default="")
    virt_mode = serializers.CharField(required=False, allow_blank=True, default="")
