"""REST shapes of quotas: limits, usage and what remains; what staff may set."""
from __future__ import annotations

from rest_framework import serializers

from .base import StrictSerializer


class QuotaFigureSerializer(serializers.Serializer):
    limit = serializers.IntegerField()
    used = serializers.IntegerField()
    remaining = serializers.IntegerField()


class QuotaUsageSerializer(serializers.Serializer):
    instances = QuotaFigureSerializer()
    vcpus = QuotaFigureSerializer()
    memory_mib = QuotaFigureSerializer()


class QuotaSetSerializer(StrictSerializer):
    instances = serializers.IntegerField(min_value=0, max_value=100_000)
    vcpus = serializers.IntegerField(min_value=0, max_value=10_000_000)
    memory_mib = serializers.IntegerField(min_value=0, max_value=2_000_000_000)
