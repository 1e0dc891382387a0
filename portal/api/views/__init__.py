"""REST API v1, one module per resource: thin viewsets that parse input, scope reads to the caller
through a selector, and make one service call. Shared pieces live in `portal/api/base.py`."""
from ..base import ANY_SEGMENT, OwnedResourceViewSet, Pagination, SafeLookupMixin, SafeParsingMixin
from .access_keys import AccessKeyViewSet
from .auth import TokenDetailView, TokenListView, TokenView
from .catalog import ApplianceViewSet, InstanceTypeViewSet
from .instances import InstanceViewSet
from .keypairs import KeyPairViewSet
from .placement import PlacementDryRunView
from .quotas import QuotaView, UserQuotaView
from .reservations import ReservationViewSet
from .security_groups import SecurityGroupViewSet

__all__ = [
    "ANY_SEGMENT", "AccessKeyViewSet", "ApplianceViewSet", "InstanceTypeViewSet", "InstanceViewSet", "KeyPairViewSet",
    "OwnedResourceViewSet", "Pagination", "PlacementDryRunView", "QuotaView", "ReservationViewSet",
    "SafeLookupMixin", "SafeParsingMixin", "SecurityGroupViewSet", "TokenDetailView", "TokenListView", "TokenView",
    "UserQuotaView",
]
