"""REST shapes of reservations: a launch of min_count..max_count instances, and its answer."""
from __future__ import annotations

from rest_framework import serializers

from provisioning.models import Reservation

from .instances import InstanceCreateSerializer, InstanceSerializer


class ReservationCreateSerializer(InstanceCreateSerializer):
    min_count = serializers.IntegerField(required=False, default=1, help_text="launch none unless this many fit")
    max_count = serializers.IntegerField(required=False, allow_null=True, default=None,
                                         help_text="launch as many as fit up to this (default: min_count)")

    def launch_fields(self) -> dict:
        data = super().launch_fields()
        if data.get("max_count") is None:
            data["max_count"] = data["min_count"]
        return data


class ReservationSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True, help_text="reservation id (r-…)")
    instances = InstanceSerializer(many=True, read_only=True)

    class Meta:
        model = Reservation
        fields = ["id", "min_count", "max_count", "created_at", "instances"]
        read_only_fields = fields
