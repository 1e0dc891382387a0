"""API tokens over REST: get one for a password, list and revoke your own; the authentication class.

POST /api/v1/auth/token/ goes through ``authenticate(request, ...)``, so the login lockout
(django-axes) counts its wrong passwords like the web login's and answers 429 when locked.
"""
from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.auth import lockout_response
from portal.models import ApiToken
from portal.tokens import token_issue, token_list, token_revoke

from ..base import Pagination
from ..parsers import PARSER_CLASSES
from ..serializers import ErrorSerializer


# --------------------------------------------------------------------------- serializers
class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    name = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                 help_text="a label to tell your tokens apart, e.g. the machine that uses it")


class TokenSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True, help_text="tok-…")

    class Meta:
        model = ApiToken
        fields = ("id", "name", "prefix", "created_at", "expires_at", "last_used_at")


class TokenIssuedSerializer(TokenSerializer):
    token = serializers.CharField(read_only=True, help_text="send as `Authorization: Token <token>`; shown only now")

    class Meta(TokenSerializer.Meta):
        fields = ("token", *TokenSerializer.Meta.fields)


TOKEN_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="token id (tok-…)")


# --------------------------------------------------------------------------- views
class TokenView(APIView):
    """POST: a new token for a username and password. DELETE: revoke the token this request uses."""

    parser_classes = PARSER_CLASSES

    def _getting_one(self) -> bool:
        return getattr(getattr(self, "request", None), "method", None) == "POST"

    def get_permissions(self):
        return [AllowAny()] if self._getting_one() else super().get_permissions()

    def get_authenticators(self):
        # Getting a token needs no credentials but the password (a stale session must not matter).
        return [] if self._getting_one() else super().get_authenticators()

    @extend_schema(
        tags=["auth"], auth=[], request=TokenRequestSerializer,
        responses={200: TokenIssuedSerializer,
                   400: OpenApiResponse(ErrorSerializer, description="Wrong username or password, or a field missing."),
                   429: OpenApiResponse(ErrorSerializer, description=(
                       "Locked out after too many wrong passwords in a row (`Retry-After` says for how long), or "
                       "over the rate."))},
        summary="Get an API token",
        description="Each call issues a new token, valid for SKYPORT_API_TOKEN_TTL_HOURS (a week by default). "
                    "The token is shown only in this answer; Skyport keeps only its hash.",
    )
    def post(self, request: Request) -> Response:
        body = TokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = authenticate(request=request, username=body.validated_data["username"],
                            password=body.validated_data["password"])
        if getattr(request, "axes_locked_out", False):
            # Axes flagged the DRF request, which its middleware (looking at the Django request) never sees.
            return lockout_response(request._request, credentials={"username": body.validated_data["username"]})
        if user is None:
            raise exceptions.ValidationError(
                {"non_field_errors": ["Wrong username or password (or the account is not active yet)."]})
        token, key = token_issue(user=user, name=body.validated_data.get("name", ""))
        token.token = key
        return Response(TokenIssuedSerializer(token).data)

    @extend_schema(tags=["auth"], request=None,
                   responses={204: None, 401: OpenApiResponse(ErrorSerializer, description="Not logged in.")},
                   summary="Revoke your API token",
                   description="Revokes the token this request authenticates with (an API client's log out); "
                               "from a browser session, every token of yours.")
    def delete(self, request: Request) -> Response:
        if isinstance(request.auth, ApiToken):
            token_revoke(user=request.user, public_id=request.auth.public_id)
        else:
            token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(get=extend_schema(
    tags=["auth"], summary="Your API tokens",
    description="Tokens that have not expired, newest first; the keys themselves are never shown again, only "
                "their first characters (`prefix`)."))
class TokenListView(generics.ListAPIView):
    parser_classes = PARSER_CLASSES
    serializer_class = TokenSerializer
    pagination_class = Pagination
    filter_backends: list = []

    def get_queryset(self):
        return token_list(user=self.request.user)


class TokenDetailView(APIView):
    parser_classes = PARSER_CLASSES

    def _token(self, request: Request, id: str) -> ApiToken:  # noqa: A002 - the URL's name
        token = token_list(user=request.user).filter(public_id=id).first()
        if token is None:
            raise exceptions.NotFound(f"You have no live API token {id[:40]}.")
        return token

    @extend_schema(tags=["auth"], parameters=[TOKEN_ID], summary="One of your API tokens",
                   responses={200: TokenSerializer, 404: OpenApiResponse(ErrorSerializer, description="Not found.")})
    def get(self, request: Request, id: str) -> Response:  # noqa: A002
        return Response(TokenSerializer(self._token(request, id)).data)

    @extend_schema(tags=["auth"], parameters=[TOKEN_ID], summary="Revoke one of your API tokens",
                   responses={204: None, 404: OpenApiResponse(ErrorSerializer, description="Not found.")})
    def delete(self, request: Request, id: str) -> Response:  # noqa: A002
        token_revoke(user=request.user, public_id=self._token(request, id).public_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
