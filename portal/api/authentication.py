"""`Authorization: Token <key>` with the portal's expiring, hashed tokens (portal.tokens).

Its own module: DRF imports authentication classes while it builds APIView, so this one must not
import DRF's views.
"""
from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from portal.tokens import token_authenticate


class ExpiringTokenAuthentication(TokenAuthentication):
    """A token that exists, has not expired, and whose user is active."""

    def authenticate_credentials(self, key: str):
        token = token_authenticate(key)
        if token is None:
            raise exceptions.AuthenticationFailed(
                "Invalid or expired token: get a new one with POST /api/v1/auth/token/.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("This account is inactive or awaits an operator's approval.")
        return token.user, token
