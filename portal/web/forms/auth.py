"""Log in and sign up."""
from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm

from .base import NoColonMixin


class LoginForm(NoColonMixin, AuthenticationForm):
    pass


class SignupForm(NoColonMixin, UserCreationForm):
    """Username, email, password twice (Django's password validators apply).

    The email is not checked against existing accounts: the answer must not tell whether an
    address already has one (nothing logs in or resets a password by email).
    """

    email = forms.EmailField(required=True, help_text="For notices about your instances.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def __init__(self, *args, approval: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.approval = approval

    def save(self, commit: bool = True):
        user = super().save(commit=False)
        user.email = self.cleaned_data["email"].strip()
        user.is_active = not self.approval  # with approval, staff switch it on in the admin
        if commit:
            user.save()
        return user
