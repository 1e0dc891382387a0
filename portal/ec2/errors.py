"""EC2's error codes and HTTP statuses, and the one mapping from Skyport's domain errors to them."""
from __future__ import annotations

from provisioning.exceptions import (
    IdempotencyConflict,
    InsufficientCapacity,
    InvalidRequest,
    InvalidState,
    NotFound,
    QuotaExceeded,
    SkyportError,
)

# EC2: client errors are 4xx, server errors 5xx (InsufficientInstanceCapacity is a server error there too,
# so SDKs retry it, as capacity may free up). DryRunOperation is 412, as EC2 answers it.
STATUS = {
    "AuthFailure": 401,
    "MissingAuthenticationToken": 401,
    "SignatureDoesNotMatch": 403,
    "UnauthorizedOperation": 403,
    "IncompleteSignature": 400,
    "RequestExpired": 400,
    "DryRunOperation": 412,
    "RequestLimitExceeded": 503,
    "InsufficientInstanceCapacity": 500,
    "InternalError": 500,
    "Unavailable": 503,
}


class Ec2Error(Exception):
    """An EC2 error response: `code` (e.g. InvalidInstanceID.NotFound), a message saying what to fix."""

    def __init__(self, code: str, message: str, *, status: int | None = None, headers: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS.get(code, 400)
        self.headers = headers or {}


def missing(name: str) -> Ec2Error:
    return Ec2Error("MissingParameter", f"The request must contain the parameter {name}.")


def invalid(message: str) -> Ec2Error:
    return Ec2Error("InvalidParameterValue", message)


# The field a service names in InvalidRequest -> EC2's code for it (first match wins).
FIELD_CODES = {
    "appliance": "InvalidAMIID.NotFound",
    "key_name": "InvalidKeyPair.NotFound",
    "security_groups": "InvalidGroup.NotFound",
    "public_key": "InvalidKey.Format",
    "quota": "InstanceLimitExceeded",
}
# A domain error's own code -> EC2's.
DOMAIN_CODES = {
    "quota_exceeded": "InstanceLimitExceeded",
    "idempotency_key_reused": "IdempotentParameterMismatch",
    "idempotency_key_in_progress": "Unavailable",
    "duplicate_rule": "InvalidPermission.Duplicate",
    "rule_not_found": "InvalidPermission.NotFound",
    "rules_limit": "RulesPerSecurityGroupLimitExceeded",
    "in_use": "DependencyViolation",
    "reserved": "CannotDelete",
}


def from_domain(exc: SkyportError, *, not_found: str = "InvalidParameterValue",
                fields: dict[str, str] | None = None) -> Ec2Error:
    """Map a service's refusal to EC2's code; the message is the service's own (it says what to fix).

    `not_found` is the code for a plain NotFound in the action at hand (InvalidInstanceID.NotFound, ...),
    `fields` adds the action's own field codes (a taken `name` is InvalidKeyPair.Duplicate for a key pair).
    """
    field_codes = {**FIELD_CODES, **(fields or {})}
    code = DOMAIN_CODES.get(exc.code)
    if code is None:
        if isinstance(exc, QuotaExceeded):
            code = "InstanceLimitExceeded"
        elif isinstance(exc, InsufficientCapacity):
            code = "InsufficientInstanceCapacity"
        elif isinstance(exc, IdempotencyConflict):
            code = "IdempotentParameterMismatch"
        elif isinstance(exc, InvalidRequest):
            named = [f for f in exc.errors if f in field_codes]
            code = field_codes[named[0]] if named else "InvalidParameterValue"
        elif isinstance(exc, NotFound):
            code = not_found
        elif isinstance(exc, InvalidState):
            code = "IncorrectInstanceState"
        else:
            code = "InvalidParameterValue"
    message = exc.message
    if isinstance(exc, InvalidRequest) and len(exc.errors) > 1:
        message = " ".join(f"{field}: {msgs[0]}" if field != "non_field_errors" else msgs[0]
                           for field, msgs in exc.errors.items())
    return Ec2Error(code, message)
