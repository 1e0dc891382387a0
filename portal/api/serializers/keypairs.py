"""REST shapes of key pairs (the private key of a generated pair only in the create answer)."""
from __future__ import annotations

from rest_framework import serializers

from provisioning.models import KeyPair

from .base import StrictSerializer, TextField


class KeyPairSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True, help_text="key pair id (key-…)")

    class Meta:
        model = KeyPair
        fields = ["id", "name", "key_type", "fingerprint", "public_key", "created_at"]
        read_only_fields = fields


class KeyPairCreatedSerializer(KeyPairSerializer):
    private_key = serializers.CharField(
        read_only=True, allow_null=True,
        help_text="PEM (OpenSSH format) of a generated key: returned in this response only, never stored",
    )

    class Meta(KeyPairSerializer.Meta):
        fields = [*KeyPairSerializer.Meta.fields, "private_key"]
        read_only_fields = fields


class KeyPairCreateSerializer(StrictSerializer):
    name = TextField(allow_blank=True)
    key_type = TextField(required=False, default="ed25519", help_text="ed25519 (default) or rsa")
    public_key = TextField(required=False, allow_blank=True, default="",
                                       help_text="import this OpenSSH public key instead of generating a pair")
