"""What every staff endpoint shares: the permission, the error responses in the schema, pagination."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse

from portal.api.permissions import IsStaff
from portal.api.serializers import ErrorSerializer
from portal.api.views import ANY_SEGMENT, Pagination, SafeLookupMixin, SafeParsingMixin

__all__ = ["ANY_SEGMENT", "E400", "E403", "E404", "E409", "STAFF", "Pagination", "SafeLookupMixin",
           "SafeParsingMixin", "StaffOnly", "err"]


def err(description: str, serializer=ErrorSerializer) -> OpenApiResponse:
    return OpenApiResponse(serializer, description=description)


E400 = err("Invalid input: one key per bad field, each with what to fix, and `code`.")
E403 = err("Not staff: only operators may call the staff API.")
E404 = err("No such object.")
E409 = err("The object's current state forbids this operation; `detail` says what would allow it.")
STAFF = {403: E403}


class StaffOnly:
    """Mixin: staff only (401 without credentials, 403 for a non-staff user)."""

    permission_classes = [IsStaff]
