"""REST shapes. Output serializers render models; input serializers only check types and names.

Business rules (what exists, sizes, quotas, capacity) live in `provisioning.services`; an input
serializer hands plain values to a service, which names every bad field in one InvalidRequest.
Input serializers refuse unknown fields, so a typo ("instance-type") is a 400 naming it instead
of a silently ignored option.

This module: the input base (text only, unknown fields refused), the error bodies, the token
answer, and ingress rules (an instance launch and a security group both take them)."""
from __future__ import annotations

from collections.abc import Mapping

from rest_framework import serializers

from provisioning.exceptions import InvalidRequest
from provisioning.services.security_groups import MAX_RULES, RuleSpec, rule_parse


class StrictBooleanField(serializers.BooleanField):
    """true or false (JSON, or the words in a form), not DRF's wider "1", "0", "yes", "on"."""

    TRUE_VALUES = {True, "true", "True"}
    FALSE_VALUES = {False, "false", "False"}


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



def parse_rules(raw_rules: list[dict], field: str = "rules") -> list[RuleSpec]:
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


class RuleListField(serializers.ListField):
    """A list of ingress rules, each checked by `rule_parse` (the web form and EC2 use the same)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_RULES)
        kwargs.setdefault("error_messages", {"max_length": f"At most {MAX_RULES} rules per security group."})
        super().__init__(child=RuleSerializer(), **kwargs)

    def to_internal_value(self, data):
        return parse_rules(super().to_internal_value(data), field=self.field_name)
