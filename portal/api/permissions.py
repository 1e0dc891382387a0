"""API permissions. Tenancy (own rows only, 404 for others') lives in the selectors, not here."""
from __future__ import annotations

from rest_framework.permissions import BasePermission


class IsStaff(BasePermission):
    """Operator-only endpoints (quotas of other users, placement dry runs)."""

    message = "Only operators (staff users) may do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)
