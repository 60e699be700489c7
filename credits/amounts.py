"""The amount rules, in one place: the JSON view, the form and the presets all use them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .conf import CreditsSettings, get_settings
from .words import msg_range


def validate_amount_cents(value: object, conf: CreditsSettings | None = None) -> int:
    """``value`` as a number of cents, or a ``ValidationError`` saying what is wrong.

    Only a real integer is accepted: not a string, float, boolean or null.
    """
    conf = conf or get_settings()
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(
            _("amountCents must be a whole number of cents written as a JSON integer, such as 1000 for $10."),
            code="invalid_amount",
        )
    if value % 100:
        raise ValidationError(
            _("Top-ups are in whole dollars: amountCents must be a multiple of 100."), code="invalid_amount"
        )
    if not conf.MIN_AMOUNT_CENTS <= value <= conf.MAX_AMOUNT_CENTS:
        raise ValidationError(msg_range(conf), code="invalid_amount")
    return value


def validate_threshold_cents(value: int) -> int:
    """The auto top-up's threshold: above $0, or it could never fire before the credits are gone."""
    if value <= 0:
        raise ValidationError(
            _("The threshold must be more than $0: auto top-up adds credits when the balance falls below it."),
            code="invalid_threshold",
        )
    return value


def preset_amounts(conf: CreditsSettings | None = None) -> list[int]:
    """The preset amounts, in cents, that the rules accept."""
    conf = conf or get_settings()
    valid = []
    for cents in conf.PRESET_AMOUNTS_CENTS:
        try:
            valid.append(validate_amount_cents(cents, conf))
        except ValidationError:
            continue
    return valid
