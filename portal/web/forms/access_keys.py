"""The access keys page: a new key for the EC2 API (boto3, awscli)."""
from __future__ import annotations

from django import forms

from .base import NoColonMixin


class AccessKeyCreateForm(NoColonMixin, forms.Form):
    description = forms.CharField(label="Description", max_length=255, required=False,
                                  widget=forms.TextInput(attrs={"placeholder": "laptop awscli"}))
    read_only = forms.BooleanField(label="Read-only (Describe* and Get* only)", required=False)
