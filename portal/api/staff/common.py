"""What every staff endpoint shares: the permission, the error responses in the schema, pagination."""
from __future__ import annotations

from portal.api.base import ANY_SEGMENT, E400, Pagination, SafeLookupMixin, SafeParsingMixin, err
from portal.api.permissions import IsStaff

__all__ = ["ANY_SEGMENT", "E400", "E403", "E404", "E409", "STAFF", "Pagination", "SafeLookupMixin",
           "SafeParsingMixin", "StaffOnly", "err"]

E403 = err("Not staff: only operators may call the staff API.")
E404 = err("No such object.")
E409 = err("The object's current state forbids this operation; `detail` says what would allow it.")
STAFF = {403: E403}


class StaffOnly:
    """Mixin: staff only (401 without credentials, 403 for a non-staff user)."""

    permission_classes = [IsStaff]
