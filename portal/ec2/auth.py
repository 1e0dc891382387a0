"""SigV4 verification by recomputing the signature with botocore's own signer (no hand-written
canonicalisation): the request is rebuilt as botocore would have sent it (method, URL, the signed
headers, the body), signed with the key's stored secret at the request's own X-Amz-Date, and the
two signatures compared in constant time. Region and service are checked, and the clock window.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from django.conf import settings
from django.http import HttpRequest

from provisioning.models import AccessKey
from provisioning.services.access_keys import access_key_credentials

from .errors import Ec2Error

SERVICE = "ec2"
CLOCK_WINDOW = timedelta(minutes=15)
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+)\s*,\s*SignedHeaders=(?P<signed>[^,\s]+)\s*,"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})\s*$")


@dataclass(frozen=True)
class Caller:
    """Who signed the request."""

    key: AccessKey

    @property
    def user(self):
        return self.key.owner


def region() -> str:
    return getattr(settings, "SKYPORT_EC2_REGION", "us-east-1")


def _amz_date(request: HttpRequest) -> datetime:
    raw = request.headers.get("X-Amz-Date", "")
    try:
        return datetime.strptime(raw, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise Ec2Error("IncompleteSignature", "The request must carry an X-Amz-Date header such as "
                                              "20261201T120000Z (UTC), and sign it.") from None


def authenticate(request: HttpRequest, body: bytes, *, now: datetime | None = None) -> Caller:
    """The verified caller of a SigV4-signed request, or the EC2 error that says why not."""
    header = request.headers.get("Authorization", "")
    if not header:
        if "X-Amz-Signature" in request.GET:
            raise Ec2Error("AuthFailure", "Pre-signed (query string) requests are not supported; sign the "
                                          "Authorization header (boto3 and awscli do).")
        raise Ec2Error("MissingAuthenticationToken", "The request must be signed with an access key (AWS "
                                                     "Signature Version 4). Create an access key in the portal.")
    match = _AUTH.match(header)
    if match is None:
        raise Ec2Error("IncompleteSignature", "The Authorization header is not an AWS4-HMAC-SHA256 signature "
                                              "(Credential=..., SignedHeaders=..., Signature=...).")
    parts = match["credential"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise Ec2Error("IncompleteSignature", "The credential must read <key id>/<yyyymmdd>/<region>/ec2/aws4_request.")
    key_id, day, req_region, service, _ = parts
    signed = match["signed"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        raise Ec2Error("IncompleteSignature", "The signed headers must include host and x-amz-date.")
    when = _amz_date(request)
    now = now or datetime.now(UTC)
    if abs(now - when) > CLOCK_WINDOW:
        raise Ec2Error("RequestExpired", f"Request has expired: it was signed at {when:%Y-%m-%dT%H:%M:%SZ}, more "
                                         f"than 15 minutes from the server's time {now:%Y-%m-%dT%H:%M:%SZ}; check "
                                         "the client's clock.")
    if day != when.strftime("%Y%m%d"):
        raise Ec2Error("SignatureDoesNotMatch", "The credential's date does not match X-Amz-Date.")
    if service != SERVICE:
        raise Ec2Error("SignatureDoesNotMatch", f"The credential is scoped to service '{service}'; sign for 'ec2'.")
    if req_region != region():
        raise Ec2Error("AuthFailure", f"Credential should be scoped to a valid region: this endpoint is region "
                                      f"'{region()}', the request was signed for '{req_region}' (set region_name / "
                                      f"--region {region()}).")
    found = access_key_credentials(key_id)
    if found is None:
        raise Ec2Error("AuthFailure", "AWS was not able to validate the provided access credentials: the access key "
                                      f"{key_id} does not exist or was revoked.")
    key, secret = found
    content_sha = request.headers.get("X-Amz-Content-SHA256")
    if content_sha is not None and not hmac.compare_digest(content_sha, hashlib.sha256(body).hexdigest()):
        raise Ec2Error("SignatureDoesNotMatch", "X-Amz-Content-SHA256 does not match the request body.")
    expected = _signature(request, body, signed=signed, key_id=key_id, secret=secret, amz_date=request.headers[
        "X-Amz-Date"], region_name=req_region)
    if not hmac.compare_digest(expected, match["signature"]):
        raise Ec2Error("SignatureDoesNotMatch", "The request signature we calculated does not match the signature "
                                                "you provided. Check your secret access key and signing method.")
    return Caller(key)


def _signature(request: HttpRequest, body: bytes, *, signed: list[str], key_id: str, secret: str, amz_date: str,
               region_name: str) -> str:
    """botocore's SigV4 signature of the request as received."""
    query = request.META.get("QUERY_STRING", "")
    # The host part only matters through the signed `host` header; the scheme picks botocore's payload rule.
    host = request.headers.get("host", "localhost")
    url = f"{request.scheme}://{host}{request.path}" + (f"?{query}" if query else "")
    headers = {}
    for name in signed:
        value = request.headers.get(name)
        if value is None:
            raise Ec2Error("IncompleteSignature", f"The signed header '{name}' is missing from the request.")
        headers[name] = value
    rebuilt = AWSRequest(method=request.method, url=url, data=body, headers=headers)
    rebuilt.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(key_id, secret), SERVICE, region_name)
    canonical = signer.canonical_request(rebuilt)
    return signer.signature(signer.string_to_sign(rebuilt, canonical), rebuilt)
