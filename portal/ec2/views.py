"""The EC2 endpoint: authenticate, rate-limit, parse, dispatch the Action, render XML.

CSRF-exempt because a browser session never authenticates here: every request must carry a SigV4
signature of an access key, and the caller is that key's owner.
"""
from __future__ import annotations

import logging
import math
import uuid
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from provisioning.exceptions import SkyportError
from provisioning.services.access_keys import access_key_touch

from . import xml
from .actions import ACTIONS, Call
from .auth import authenticate, region
from .errors import Ec2Error, from_domain, invalid
from .params import Params
from .throttle import request_limit_wait

log = logging.getLogger("skyport.ec2")
CONTENT_TYPE = "text/xml;charset=UTF-8"
DOCS = "README, section 'EC2 Query API'"


def _form(request: HttpRequest, body: bytes) -> dict[str, str]:
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    try:
        pairs = parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True, max_num_fields=limit)
        if body:
            pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=limit)
    except (ValueError, UnicodeDecodeError):
        raise invalid(f"The request must be form-encoded UTF-8 with at most {limit} parameters.") from None
    return dict(pairs)


def _error(exc: Ec2Error, request_id: str) -> HttpResponse:
    response = HttpResponse(xml.error(exc.code, exc.message, request_id), status=exc.status,
                            content_type=CONTENT_TYPE)
    for name, value in exc.headers.items():
        response[name] = value
    return response


@csrf_exempt
def endpoint(request: HttpRequest) -> HttpResponse:
    request_id = str(uuid.uuid4())
    try:
        if request.method not in ("POST", "GET"):
            raise Ec2Error("InvalidAction", f"The EC2 API takes POST (or GET), not {request.method}.", status=405)
        try:
            body = request.body
        except RequestDataTooBig:
            raise invalid(f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.") from None
        caller = authenticate(request, body)
        wait = request_limit_wait(caller.key.access_key_id)
        if wait is not None:
            seconds = math.ceil(wait)
            raise Ec2Error("RequestLimitExceeded", f"Request limit exceeded: access key {caller.key.access_key_id} "
                                                   f"may make {settings.SKYPORT_API_RATE} requests; retry in "
                                                   f"{seconds} s.", headers={"Retry-After": str(seconds)})
        flat = _form(request, body)
        name = flat.pop("Action", "")
        flat.pop("Version", None)
        action = ACTIONS.get(name)
        if action is None:
            raise Ec2Error("InvalidAction", f"The action '{name}' is not valid for this web service. Skyport supports: "
                                            f"{', '.join(sorted(ACTIONS))} ({DOCS}).")
        if action.mutates and caller.key.read_only:
            raise Ec2Error("UnauthorizedOperation", f"You are not authorized to perform this operation: access key "
                                                    f"{caller.key.access_key_id} is read-only ({name} changes "
                                                    "resources). Use a full access key.")
        result = action.func(Call(user=caller.user, params=Params(flat), request_id=request_id, region=region()))
        access_key_touch(caller.key)
        return HttpResponse(xml.response(name, request_id, result), content_type=CONTENT_TYPE)
    except Ec2Error as exc:
        return _error(exc, request_id)
    except SkyportError as exc:  # a refusal the action did not map itself
        return _error(from_domain(exc), request_id)
    except Exception:
        log.exception("EC2 request %s failed", request_id)
        return _error(Ec2Error("InternalError", "An internal error has occurred; the request id is logged."),
                      request_id)
