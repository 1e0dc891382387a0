"""The key pairs page: create (Skyport generates the pair) or import a public key."""
from __future__ import annotations

from django import forms

from provisioning.services.keypairs import KEY_TYPES

from .base import NoColonMixin

# Also the launch form's "new key pair" type select.
KEY_TYPE_CHOICES = [(t, t.upper() if t == "rsa" else t) for t in KEY_TYPES]
PUBLIC_KEY_WIDGET_ATTRS = {"rows": 3, "placeholder": "ssh-ed25519 AAAA… you@laptop", "spellcheck": "false"}


class KeyPairCreateForm(NoColonMixin, forms.Form):
    name = forms.CharField(label="Name", max_length=255, widget=forms.TextInput(attrs={"placeholder": "laptop"}))
    key_type = forms.ChoiceField(label="Type", choices=KEY_TYPE_CHOICES, initial="ed25519")


class KeyPairImportForm(NoColonMixin, forms.Form):
    name = forms.CharField(label="Name", max_length=255)
    public_key = forms.CharField(label="Public key", widget=forms.Textarea(attrs=PUBLIC_KEY_WIDGET_ATTRS))
