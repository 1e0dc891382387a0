"""REST shapes of instances: the instance, the launch request, events, console, credentials."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.visibility import hosts_visible, mask_host
from provisioning.lifecycle import actions_allowed
from provisioning.models import Event, Instance
from provisioning.pipeline.engine import step_note
from provisioning.services.instances import instance_login_hint
from provisioning.services.security_groups import MAX_SECURITY_GROUPS

from .base import RuleListField, StrictSerializer, TextField


class SecurityGroupRefSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()


class CredentialsHintSerializer(serializers.Serializer):
    username = serializers.CharField()
    connect = serializers.CharField(allow_null=True)
    password_available = serializers.BooleanField(
        help_text="a generated password can be read once with POST /api/v1/instances/{id}/credentials/"
    )


def credentials_hint(inst: Instance) -> dict:
    """How to log in, without any secret (the password is only ever returned by the credentials action)."""
    hint = instance_login_hint(inst)
    return {k: hint[k] for k in ("username", "connect", "password_available")}


class InstanceSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True, help_text="instance id (i-…)")
    state_code = serializers.IntegerField(read_only=True, help_text="EC2 state code (0 pending, 16 running, …)")
    task = serializers.CharField(read_only=True, help_text="what is happening now (empty when idle)")
    task_display = serializers.CharField(source="get_task_display", read_only=True)
    appliance = serializers.CharField(source="appliance.public_id", read_only=True)
    appliance_name = serializers.CharField(source="appliance.name", read_only=True)
    instance_type = serializers.CharField(source="instance_type.name", read_only=True)
    vcpus = serializers.IntegerField(source="instance_type.vcpus", read_only=True)
    memory_mib = serializers.IntegerField(source="instance_type.memory_mib", read_only=True)
    disk_gib = serializers.IntegerField(source="instance_type.disk_gib", read_only=True)
    host = serializers.SerializerMethodField(
        help_text="the hypervisor host's name, for staff (tenants see `availability_zone`; null for them unless "
                  "SKYPORT_SHOW_HOSTS_TO_TENANTS)")
    state_reason = serializers.SerializerMethodField()
    security_groups = SecurityGroupRefSerializer(many=True, read_only=True)
    placement_group = serializers.CharField(source="placement_group.name", read_only=True, allow_null=True,
                                            default=None)
    reservation_id = serializers.CharField(source="reservation.public_id", read_only=True)
    credentials = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField(help_text="actions the current state allows")
    note = serializers.SerializerMethodField(
        help_text="what else to know about the current step, e.g. 'queued: the task queue is unreachable; it "
                  "resumes by itself' (null when there is nothing to say)")
    tags = serializers.SerializerMethodField(help_text="tags as {key: value} (set them with the EC2 API's CreateTags)")

    class Meta:
        model = Instance
        fields = [
            "id", "name", "state", "state_code", "task", "task_display", "state_reason", "appliance",
            "appliance_name", "instance_type", "vcpus", "memory_mib", "disk_gib", "host", "availability_zone",
            "virt_mode", "private_ip", "hostname", "mac_address", "key_name", "security_groups", "placement_group",
            "reservation_id", "launched_at", "created_at", "updated_at", "terminated_at", "credentials", "actions",
            "tags", "note",
        ]
        read_only_fields = fields

    @extend_schema_field(CredentialsHintSerializer)
    def get_credentials(self, inst: Instance) -> dict:
        return credentials_hint(inst)

    def get_actions(self, inst: Instance) -> list[str]:
        return actions_allowed(inst)

    def get_host(self, inst: Instance) -> str | None:
        return inst.host.name if inst.host_id and hosts_visible(_viewer(self)) else None

    def get_state_reason(self, inst: Instance) -> str:
        return mask_host(inst.state_reason, inst.host if inst.host_id else None, _viewer(self))

    def get_note(self, inst: Instance) -> str | None:
        return step_note(inst) or None

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_tags(self, inst: Instance) -> dict[str, str]:
        return {t.key: t.value for t in inst.tags.all()}


class InstanceCreateSerializer(StrictSerializer):
    appliance = TextField(help_text="AMI id (ami-…) or slug of a marketplace appliance")
    instance_type = TextField(help_text="instance type name, e.g. t3.small")
    name = TextField(required=False, allow_blank=True, default="")
    key_name = TextField(required=False, allow_blank=True, default="",
                         help_text="name or key- id of one of your key pairs")
    security_groups = serializers.ListField(
        child=TextField(), required=False, default=list, max_length=MAX_SECURITY_GROUPS,
        error_messages={"max_length": f"At most {MAX_SECURITY_GROUPS} security groups per instance."},
        help_text="names or sg- ids of your security groups (default: default)")
    rules = RuleListField(required=False, allow_null=True, default=None,
                          help_text="ingress rules for a new security group created with this launch")
    user_data = TextField(required=False, allow_blank=True, trim_whitespace=False, default="",
                          help_text="cloud-init user data, at most 16 KiB")
    availability_zone = TextField(required=False, allow_blank=True, default="")
    virt_mode = TextField(required=False, allow_blank=True, default="",
                          help_text="hardware_assisted, paravirtualization, binary_translation, "
                                    "emulation or container; default: the best the host offers")
    placement_group = TextField(required=False, allow_blank=True, default="")

    def launch_fields(self) -> dict:
        """Keyword arguments for `launch_validate`."""
        data = dict(self.validated_data)
        data["new_rules"] = data.pop("rules")
        return data


class EventSerializer(serializers.ModelSerializer):
    instance = serializers.CharField(source="instance.public_id", read_only=True, allow_null=True, default=None)
    host = serializers.SerializerMethodField(help_text="the host's name, for staff (null for tenants)")
    message = serializers.SerializerMethodField()

    class Meta:
        model = Event
        fields = ["id", "created_at", "action", "level", "message", "actor", "instance", "host", "data"]
        read_only_fields = fields

    def get_host(self, event: Event) -> str | None:
        return event.host.name if event.host_id and hosts_visible(_viewer(self)) else None

    def get_message(self, event: Event) -> str:
        return mask_host(event.message, event.host if event.host_id else None, _viewer(self))

    def to_representation(self, event: Event) -> dict:
        data = super().to_representation(event)
        if event.host_id and not hosts_visible(_viewer(self)) and isinstance(data.get("data"), dict):
            data["data"] = {k: v for k, v in data["data"].items() if k not in {"host", "source", "destination"}}
        return data


def _viewer(serializer: serializers.Serializer):
    request = serializer.context.get("request")
    return getattr(request, "user", None)


class ConsoleSerializer(serializers.Serializer):
    instance_id = serializers.CharField()
    output = serializers.CharField(help_text="the guest's console log (firmware, kernel, init, configuration)")


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField()
    host = serializers.CharField(allow_null=True, help_text="private IP address")
    key_name = serializers.CharField(allow_null=True)
    password = serializers.CharField(allow_null=True, help_text="returned once, then forgotten")
    password_already_shown = serializers.BooleanField()
    password_data = serializers.CharField(
        allow_null=True, help_text="the generated password encrypted to the instance's RSA key pair (PKCS#1 v1.5, "
                                   "base64), as EC2's GetPasswordData; decrypt it with the key pair's private key")
    connect = serializers.CharField()
