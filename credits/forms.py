"""The top-up form for pages without JavaScript: whole dollars in, validated cents out."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .amounts import validate_amount_cents
from .claims import is_valid_key


class TopupForm(forms.Form):
    """``amount`` in whole dollars; ``cleaned_data["amount_cents"]`` holds the validated cents.

    The amount rules are :func:`credits.amounts.validate_amount_cents`'s; this form only
    turns dollars into cents. ``key`` is the idempotency key the page rendered, so a double
    submit of the same page charges once.
    """

    amount = forms.IntegerField(
        label=_("Amount"),
        error_messages={
            "required": _("Choose an amount or enter a whole number of dollars."),
            "invalid": _("Enter a whole number of dollars, such as 10."),
        },
    )
    key = forms.CharField(max_length=255, required=False, widget=forms.HiddenInput)

    def clean_amount(self) -> int:
        dollars: int = self.cleaned_data["amount"]
        if abs(dollars) > 10**9:
            raise ValidationError(self.fields["amount"].error_messages["invalid"], code="invalid")
        self.cleaned_data["amount_cents"] = validate_amount_cents(dollars * 100)
        return dollars

    def clean_key(self) -> str:
        key: str = self.cleaned_data.get("key") or ""
        if key and not is_valid_key(key):
            raise ValidationError(_("The form's idempotency key is not valid. Reload the page and try again."))
        return key
