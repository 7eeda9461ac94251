"""Forms of the accounts pages."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User


class SignUpForm(UserCreationForm):
    """A new account created from an invite link: username, email, password twice."""

    email = forms.EmailField(required=False)

    class Meta:
        model = User
        fields = ("username", "email")
