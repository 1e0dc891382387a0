"""REST shapes of the marketplace: appliances and instance types (read only)."""
from __future__ import annotations

from rest_framework import serializers

from provisioning.models import Appliance, InstanceType


class ApplianceSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True, help_text="AMI id (ami-…)")

    class Meta:
        model = Appliance
        fields = [
            "id", "slug", "name", "vendor", "os_family", "os_name", "os_version", "kernel", "architecture",
            "stack", "category", "tags", "image_size_mib", "min_vcpus", "min_memory_mib", "min_disk_gib",
            "supported_modes", "pv_aware", "default_user", "description", "created_at",
        ]
        read_only_fields = fields


class InstanceTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = InstanceType
        fields = ["name", "vcpus", "memory_mib", "disk_gib", "description", "nic"]
        read_only_fields = fields
