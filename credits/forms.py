"""The app's forms: the top-up form for pages without JavaScript (whole dollars in, validated
cents out) and the auto top-up setting's form, which ``PUT auto-topup``, the admin and the
pages share, so its rules live here once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from .amounts import validate_amount_cents, validate_threshold_cents
from .autotopup import MAX_CENTS
from .models import AutoTopup
from .wire import is_valid_key
from .words import msg_whole_dollars

if TYPE_CHECKING:
    _AutoForm = forms.ModelForm[AutoTopup]
else:
    _AutoForm = forms.ModelForm


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
            "invalid": lazy(msg_whole_dollars, str)(),
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


class AutoTopupForm(_AutoForm):
    """The auto top-up setting's rules, for ``PUT auto-topup``, the admin and the pages: a
    threshold above $0, a valid top-up amount, a monthly cap of at least one top-up."""

    class Meta:
        model = AutoTopup
        fields = ("enabled", "threshold_cents", "amount_cents", "monthly_cap_cents")

    def clean_threshold_cents(self) -> int:
        return validate_threshold_cents(int(self.cleaned_data["threshold_cents"]))

    def clean_amount_cents(self) -> int:
        return validate_amount_cents(int(self.cleaned_data["amount_cents"]))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        amount, cap = data.get("amount_cents"), data.get("monthly_cap_cents")
        if amount is not None and cap is not None and cap < amount:
            raise ValidationError(
                {"monthly_cap_cents": _("The monthly cap must be at least the amount of one top-up.")}
            )
        return data


MAX_DOLLARS = MAX_CENTS // 100


class AutoTopupPageForm(forms.Form):
    """The auto top-up setting on the credits page without JavaScript: whole dollars in, as the
    header menu takes them; the rules are :class:`AutoTopupForm`'s, whose errors land on the
    same fields. ``cleaned_data`` then holds the keyword arguments of
    :func:`credits.autotopup.update` (cents)."""

    CENTS_FIELDS = {"threshold": "threshold_cents", "amount": "amount_cents", "monthly_cap": "monthly_cap_cents"}

    enabled = forms.BooleanField(label=_("Top up automatically"), required=False)
    threshold = forms.IntegerField(
        label=_("When the balance falls below (dollars)"), min_value=0, max_value=MAX_DOLLARS
    )
    amount = forms.IntegerField(label=_("Add (dollars)"), min_value=0, max_value=MAX_DOLLARS)
    monthly_cap = forms.IntegerField(label=_("Monthly cap (dollars)"), min_value=0, max_value=MAX_DOLLARS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.CENTS_FIELDS:
            self.fields[field].error_messages.update(
                dict.fromkeys(("invalid", "min_value", "max_value"), _("Enter whole dollars, such as 25."))
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        rules = AutoTopupForm(
            {"enabled": data["enabled"]} | {cents: data[dollars] * 100 for dollars, cents in self.CENTS_FIELDS.items()}
        )
        if not rules.is_valid():
            back = {cents: dollars for dollars, cents in self.CENTS_FIELDS.items()}
            for name, errors in rules.errors.items():
                for message in errors:
                    self.add_error(back.get(name), message)
            return data
        return dict(rules.cleaned_data)
