"""Domain errors. Every surface maps them the same way: 400 / 404 / 409, with the message as is."""
from __future__ import annotations


class SkyportError(Exception):
    """Base: `code` is a stable machine name, `message` says what to fix."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str = "", *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def as_dict(self) -> dict:
        return {"detail": self.message, "code": self.code}


class InvalidRequest(SkyportError):
    """Bad input: `errors` maps a field name (or "non_field_errors") to messages."""

    status = 400
    code = "invalid_request"

    def __init__(self, errors: dict[str, list[str] | str] | str, *, code: str | None = None):
        if isinstance(errors, str):
            errors = {"non_field_errors": [errors]}
        self.errors = {k: ([v] if isinstance(v, str) else list(v)) for k, v in errors.items()}
        first = next(iter(self.errors.items()))
        super().__init__(f"{first[0]}: {first[1][0]}" if first[0] != "non_field_errors" else first[1][0], code=code)

    def as_dict(self) -> dict:
        return {**self.errors, "code": self.code}


class QuotaExceeded(InvalidRequest):
    code = "quota_exceeded"


class AccountInactive(SkyportError):
    """The account awaits an operator's approval (or was switched off): it may look but not launch."""

    status = 403
    code = "account_inactive"


class NotFound(SkyportError):
    status = 404
    code = "not_found"


class InvalidState(SkyportError):
    """The action is not allowed in the instance's (or host's) current state."""

    status = 409
    code = "invalid_state"


class InsufficientCapacity(SkyportError):
    """No host can take the request; `explanation` says why, per filter, with numbers."""

    status = 409
    code = "insufficient_capacity"

    def __init__(self, message: str, *, explanation: dict | None = None):
        super().__init__(message)
        self.explanation = explanation or {}

    def as_dict(self) -> dict:
        return {"detail": self.message, "code": self.code, "explanation": self.explanation}


class IdempotencyConflict(SkyportError):
    status = 422
    code = "idempotency_key_reused"


class MaintenanceRefused(InvalidState):
    """Entering maintenance was refused: not every guest can move. `preflight` lists each one and why."""

    code = "maintenance_refused"

    def __init__(self, message: str, *, preflight: dict):
        super().__init__(message)
        self.preflight = preflight

    def as_dict(self) -> dict:
        return {"detail": self.message, "code": self.code, "preflight": self.preflight}
