"""REST shapes, one module per resource. Output serializers render models; input serializers only
check types and names, and hand plain values to one service call (see `base.py`)."""
from .base import (
    CapacityErrorSerializer,
    ErrorSerializer,
    RuleListField,
    RuleSerializer,
    StrictSerializer,
    TextField,
    parse_rules,
)
from .catalog import ApplianceSerializer, InstanceTypeSerializer
from .instances import (
    ConsoleSerializer,
    CredentialsHintSerializer,
    CredentialsSerializer,
    EventSerializer,
    InstanceCreateSerializer,
    InstanceSerializer,
    SecurityGroupRefSerializer,
    credentials_hint,
)
from .keypairs import KeyPairCreatedSerializer, KeyPairCreateSerializer, KeyPairSerializer
from .placement import DryRunSerializer
from .quotas import QuotaFigureSerializer, QuotaSetSerializer, QuotaUsageSerializer
from .reservations import ReservationCreateSerializer, ReservationSerializer
from .security_groups import SecurityGroupCreateSerializer, SecurityGroupRuleSerializer, SecurityGroupSerializer

__all__ = [
    "ApplianceSerializer", "CapacityErrorSerializer", "ConsoleSerializer", "CredentialsHintSerializer",
    "CredentialsSerializer", "DryRunSerializer", "ErrorSerializer", "EventSerializer", "InstanceCreateSerializer",
    "InstanceSerializer", "InstanceTypeSerializer", "KeyPairCreateSerializer", "KeyPairCreatedSerializer",
    "KeyPairSerializer", "QuotaFigureSerializer", "QuotaSetSerializer", "QuotaUsageSerializer",
    "ReservationCreateSerializer", "ReservationSerializer", "RuleListField", "RuleSerializer",
    "SecurityGroupCreateSerializer", "SecurityGroupRefSerializer", "SecurityGroupRuleSerializer",
    "SecurityGroupSerializer", "StrictSerializer", "TextField", "credentials_hint",
    "parse_rules",
]
