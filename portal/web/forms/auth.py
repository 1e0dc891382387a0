"""Log in and sign up."""
from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm

from .base import NoColonMixin


class LoginForm(NoColonMixin, AuthenticationForm):
    pass


class SignupForm(NoColonMixin, UserCreationForm):
    """Username, email, password twice (Django's password validators apply)."""

    email = forms.EmailField(required=True, help_text="For notices about your instances.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email address already exists; log in instead.")
        return email
