"""REST: your key pairs: generate (the private key in the answer only) or import, list, get, delete."""
from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from provisioning.models import KeyPair
from provisioning.selectors import keypair_list
from provisioning.services.keypairs import keypair_create, keypair_delete, keypair_import

from ..base import E400, E404, OwnedResourceViewSet
from ..serializers import KeyPairCreatedSerializer, KeyPairCreateSerializer, KeyPairSerializer

KEY_REF = OpenApiParameter("ref", str, OpenApiParameter.PATH, description="key pair name or id (key-…)")


@extend_schema_view(
    list=extend_schema(summary="Your key pairs (public keys only)"),
    retrieve=extend_schema(summary="One key pair", parameters=[KEY_REF], responses={200: KeyPairSerializer,
                                                                                    404: E404}),
    destroy=extend_schema(summary="Delete a key pair", parameters=[KEY_REF], responses={204: None, 404: E404}),
)
@extend_schema(tags=["key pairs"])
class KeyPairViewSet(OwnedResourceViewSet):
    """Your key pairs (SSH public keys), addressed by name or key- id."""

    model = KeyPair
    serializer_class = KeyPairSerializer
    list_selector = staticmethod(keypair_list)

    def perform_destroy(self, instance: KeyPair) -> None:
        keypair_delete(user=self.request.user, ref=instance.public_id)

    @extend_schema(
        summary="Create or import a key pair",
        description="Without `public_key`: generates a pair and returns the private key (`private_key`, PEM) in "
                    "this response ONLY; it is never stored. With `public_key`: imports it.",
        request=KeyPairCreateSerializer,
        responses={201: KeyPairCreatedSerializer, 400: E400},
    )
    def create(self, request: Request) -> Response:
        ser = KeyPairCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        if data["public_key"].strip():
            kp = keypair_import(user=request.user, name=data["name"], public_key=data["public_key"])
            private = None
        else:
            created = keypair_create(user=request.user, name=data["name"], key_type=data["key_type"])
            kp, private = created.key_pair, created.private_key_pem
        body = {**KeyPairSerializer(kp).data, "private_key": private}
        return Response(body, status=status.HTTP_201_CREATED,
                        headers={"Location": reverse("api-keypair-detail", args=[kp.public_id]),
                                 "Cache-Control": "no-store"})
