"""REST shapes of the staff API: hosts with their utilisation and guests, every tenant's instances."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.api.serializers import InstanceSerializer
from provisioning.models import Host, Instance


class RatiosSerializer(serializers.Serializer):
    vcpus = serializers.FloatField(help_text="vCPUs allocated / schedulable vCPUs (0..1)")
    memory = serializers.FloatField(help_text="memory allocated / schedulable memory (0..1)")
    disk = serializers.FloatField(help_text="disk allocated / schedulable disk (0..1)")
    instances = serializers.FloatField(help_text="instances / max_instances (0..1)")


class FiguresSerializer(serializers.Serializer):
    vcpus = serializers.IntegerField()
    memory_mib = serializers.IntegerField()
    disk_gib = serializers.IntegerField()
    instances = serializers.IntegerField()


def _figures(host: Host, suffix: str) -> dict:
    return {"vcpus": getattr(host, f"vcpus_{suffix}"), "memory_mib": getattr(host, f"memory_mib_{suffix}"),
            "disk_gib": getattr(host, f"disk_gib_{suffix}"),
            "instances": host.max_instances if suffix == "limit" else host.instances_used}


class HostSerializer(serializers.ModelSerializer):
    pcpus = serializers.IntegerField(read_only=True, help_text="hardware threads")
    limits = serializers.SerializerMethodField(help_text="schedulable totals (physical x allocation ratio)")
    used = serializers.SerializerMethodField(help_text="what the host's claims hold (the capacity ledger)")
    utilisation = RatiosSerializer(read_only=True)
    guests = serializers.IntegerField(read_only=True, help_text="live instances on the host")

    class Meta:
        model = Host
        fields = ["name", "availability_zone", "state", "is_up", "cpu_model", "cpu_features", "supported_modes",
                  "hypervisor_version", "pcpus", "memory_mib", "disk_gib", "nic_mibps", "cpu_allocation_ratio",
                  "ram_allocation_ratio", "limits", "used", "utilisation", "guests"]
        read_only_fields = fields

    @extend_schema_field(FiguresSerializer)
    def get_limits(self, host: Host) -> dict:
        return _figures(host, "limit")

    @extend_schema_field(FiguresSerializer)
    def get_used(self, host: Host) -> dict:
        return _figures(host, "used")


class GuestSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    owner = serializers.CharField(source="owner.username")
    instance_type = serializers.CharField(source="instance_type.name")
    vcpus = serializers.IntegerField(source="instance_type.vcpus")
    memory_mib = serializers.IntegerField(source="instance_type.memory_mib")
    appliance = serializers.CharField(source="appliance.name")

    class Meta:
        model = Instance
        fields = ["id", "name", "owner", "state", "task", "instance_type", "vcpus", "memory_mib", "appliance",
                  "virt_mode", "private_ip"]
        read_only_fields = fields


class HostDetailSerializer(HostSerializer):
    guest_list = serializers.SerializerMethodField(help_text="the live instances on the host, largest first")

    class Meta(HostSerializer.Meta):
        fields = HostSerializer.Meta.fields + ["guest_list"]
        read_only_fields = fields

    @extend_schema_field(GuestSerializer(many=True))
    def get_guest_list(self, host: Host) -> list:
        return GuestSerializer(self.context["guests"], many=True).data


class StaffInstanceSerializer(InstanceSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True, help_text="the tenant (username)")

    class Meta(InstanceSerializer.Meta):
        fields = InstanceSerializer.Meta.fields + ["owner"]
        read_only_fields = fields
