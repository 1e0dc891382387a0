"""REST shapes. Output serializers render models; input serializers only check types and names.

Business rules (what exists, sizes, quotas, capacity) live in `provisioning.services`; an input
serializer hands plain values to a service, which names every bad field in one InvalidRequest.
Input serializers refuse unknown fields, so a typo ("instance-type") is a 400 naming it instead
of a silently ignored option.
"""
from __future__ import annotations

from collections.abc import Mapping

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from provisioning.exceptions import InvalidRequest
from provisioning.lifecycle import actions_allowed
from provisioning.models import Appliance, Event, Instance, InstanceType, KeyPair, Reservation, SecurityGroup
from provisioning.services.instances import instance_login_hint
from provisioning.services.security_groups import MAX_RULES, MAX_SECURITY_GROUPS, RuleSpec, rule_parse


# --------------------------------------------------------------------------- input base
class TextField(serializers.CharField):
    """A string, and only a string: DRF's CharField would quietly turn 5 into "5" (a name, or user
    data the instance would run)."""

    default_error_messages = {"not_text": "Must be text (a JSON string in quotes), not {kind}."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            kind = {bool: "true/false", int: "a number", float: "a number", list: "a list",
                    dict: "an object"}.get(type(data), type(data).__name__)
            self.fail("not_text", kind=kind)
        return super().to_internal_value(data)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, naming each one and listing what is accepted."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            allowed = sorted(name for name, f in self.fields.items() if not f.read_only)
            unknown = sorted(str(k) for k in data if k not in self.fields or self.fields[k].read_only)
            if unknown:
                raise serializers.ValidationError(
                    {k: [f"Unknown field '{k}'. Accepted fields: {', '.join(allowed)}."] for k in unknown}
                )
        return super().to_internal_value(data)


class ErrorSerializer(serializers.Serializer):
    """The body of every error: `code` is stable, `detail` (or one key per bad field) says what to fix."""

    code = serializers.CharField(help_text="machine-readable error code, e.g. invalid_request, not_found")
    detail = serializers.CharField(required=False, help_text="what went wrong and what to do")


class CapacityErrorSerializer(ErrorSerializer):
    explanation = serializers.DictField(help_text="why no host fits, per placement filter, with numbers")


# --------------------------------------------------------------------------- auth
class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="send as `Authorization: Token <token>`")


# --------------------------------------------------------------------------- catalog
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
        fields = ["name", "vcpus", "memory_mib", "disk_gib", "description"]
        read_only_fields = fields


# --------------------------------------------------------------------------- instances
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
    host = serializers.CharField(source="host.name", read_only=True, allow_null=True, default=None)
    security_groups = SecurityGroupRefSerializer(many=True, read_only=True)
    placement_group = serializers.CharField(source="placement_group.name", read_only=True, allow_null=True,
                                            default=None)
    reservation_id = serializers.CharField(source="reservation.public_id", read_only=True)
    credentials = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField(help_text="actions the current state allows")
    tags = serializers.SerializerMethodField(help_text="tags as {key: value} (set them with the EC2 API's CreateTags)")

    class Meta:
        model = Instance
        fields = [
            "id", "name", "state", "state_code", "task", "task_display", "state_reason", "appliance",
            "appliance_name", "instance_type", "vcpus", "memory_mib", "disk_gib", "host", "availability_zone",
            "virt_mode", "private_ip", "hostname", "mac_address", "key_name", "security_groups", "placement_group",
            "reservation_id", "launched_at", "created_at", "updated_at", "terminated_at", "credentials", "actions",
            "tags",
        ]
        read_only_fields = fields

    @extend_schema_field(CredentialsHintSerializer)
    def get_credentials(self, inst: Instance) -> dict:
        return credentials_hint(inst)

    def get_actions(self, inst: Instance) -> list[str]:
        return actions_allowed(inst)

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_tags(self, inst: Instance) -> dict[str, str]:
        return {t.key: t.value for t in inst.tags.all()}


def _parse_rules(raw_rules: list[dict], field: str = "rules") -> list[RuleSpec]:
    out = []
    for index, raw in enumerate(raw_rules):
        try:
            out.append(rule_parse(raw, field=field, index=index))
        except InvalidRequest as exc:
            raise serializers.ValidationError(exc.errors.get(field) or exc.message) from exc
    return out


class RuleSerializer(StrictSerializer):
    protocol = serializers.CharField(required=False, help_text="tcp, udp, icmp or -1 (all); default tcp")
    from_port = serializers.IntegerField(required=False, help_text="default 22")
    to_port = serializers.IntegerField(required=False, help_text="default from_port")
    port = serializers.IntegerField(required=False, help_text="shorthand for from_port = to_port")
    cidr = serializers.CharField(required=False, help_text="IPv4 CIDR; default 0.0.0.0/0")
    description = serializers.CharField(required=False, allow_blank=True, max_length=255)


# Bounds on list inputs (EC2's own limits): a request cannot make thousands of rows or lookups.


class RuleListField(serializers.ListField):
    """A list of ingress rules, each checked by `rule_parse` (the web form and EC2 use the same)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_RULES)
        kwargs.setdefault("error_messages", {"max_length": f"At most {MAX_RULES} rules per security group."})
        super().__init__(child=RuleSerializer(), **kwargs)

    def to_internal_value(self, data):
        return _parse_rules(super().to_internal_value(data), field=self.field_name)


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


class EventSerializer(serializers.ModelSerializer):
    instance = serializers.CharField(source="instance.public_id", read_only=True, allow_null=True, default=None)
    host = serializers.CharField(source="host.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Event
        fields = ["id", "created_at", "action", "level", "message", "actor", "instance", "host", "data"]
        read_only_fields = fields


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


# --------------------------------------------------------------------------- key pairs
class KeyPairSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True, help_text="key pair id (key-…)")

    class Meta:
        model = KeyPair
        fields = ["id", "name", "key_type", "fingerprint", "public_key", "created_at"]
        read_only_fields = fields


class KeyPairCreatedSerializer(KeyPairSerializer):
    private_key = serializers.CharField(
        read_only=True, allow_null=True,
        help_text="PEM (OpenSSH format) of a generated key: returned in this response only, never stored",
    )

    class Meta(KeyPairSerializer.Meta):
        fields = [*KeyPairSerializer.Meta.fields, "private_key"]
        read_only_fields = fields


class KeyPairCreateSerializer(StrictSerializer):
    name = serializers.CharField(allow_blank=True)
    key_type = serializers.CharField(required=False, default="ed25519", help_text="ed25519 (default) or rsa")
    public_key = serializers.CharField(required=False, allow_blank=True, default="",
                                       help_text="import this OpenSSH public key instead of generating a pair")


# --------------------------------------------------------------------------- security groups
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
    name = serializers.CharField(allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    rules = RuleListField(required=False, default=list)


# --------------------------------------------------------------------------- quotas
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


# --------------------------------------------------------------------------- placement (staff)
class DryRunSerializer(StrictSerializer):
    appliance = serializers.CharField()
    instance_type = serializers.CharField()
    availability_zone = serializers.CharField(required=False, allow_blank=True, default="")
    virt_mode = serializers.CharField(required=False, allow_blank=True, default="")
