"""One error shape for the whole API: a dict with a stable `code` plus `detail` or per-field messages.

Domain errors (`provisioning.exceptions.SkyportError`) keep their status and body as the services
wrote them (400 invalid / quota, 404 not found, 409 state or capacity, 422 idempotency key
reuse). Django's own ValidationError (a model's full_clean) becomes a 400, never a 500; a body larger than
DATA_UPLOAD_MAX_MEMORY_SIZE is a JSON 413 (Django would answer with an HTML page).
"""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from provisioning.exceptions import SkyportError


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF EXCEPTION_HANDLER: map domain and validation errors, add `code` to DRF's own errors."""
    if isinstance(exc, SkyportError):
        headers = {"Retry-After": "1"} if exc.code == "idempotency_key_in_progress" else None
        # No set_rollback(): a refusal's event-log entry (written by the service) must survive.
        return Response(exc.as_dict(), status=exc.status, headers=headers)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response({"code": "request_too_large",
                         "detail": f"The request body is larger than {limit} bytes; send less (user data, for "
                                   f"one, is limited to {settings.SKYPORT_USER_DATA_MAX_BYTES} bytes)."},
                        status=413)
    if isinstance(exc, TooManyFieldsSent):
        return Response({"code": "invalid_request", "detail": "The request has too many form fields."}, status=400)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        if not isinstance(data, dict):
            data = {"non_field_errors": data}
        data = {**data, "code": "invalid_request"}
    elif isinstance(exc, exceptions.APIException):
        if not isinstance(data, dict):
            data = {"detail": data}
        codes = exc.get_codes()
        data = {**data, "code": codes if isinstance(codes, str) else exc.default_code}
    response.data = data
    return response
