"""REST: API tokens (exchange a username and password for one; revoke it)."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import NotAuthenticated
from rest_framework.response import Response

from ..base import SafeParsingMixin, err
from ..serializers import TokenResponseSerializer


class TokenView(SafeParsingMixin, ObtainAuthToken):
    """Exchange a username and password for an API token (the same token until revoked)."""

    @extend_schema(
        tags=["auth"], auth=[], request=AuthTokenSerializer,
        responses={200: TokenResponseSerializer, 400: err("Wrong username or password.")},
        summary="Get an API token",
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    @extend_schema(tags=["auth"], request=None, responses={204: None, 401: err("Not logged in.")},
                   summary="Revoke your API token")
    def delete(self, request, *args, **kwargs):
        if not request.user or not request.user.is_authenticated:
            raise NotAuthenticated()
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
