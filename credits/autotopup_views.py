"""``GET``/``PUT auto-topup``: the team's auto top-up setting as JSON (docs/contract.md section 7)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from . import autotopup
from .amounts import validate_amount_cents
from .outcomes import Answer, error
from .views import gate, read_body, respond

METHODS = ("GET", "PUT")


def _invalid(message: str) -> Answer:
    return error(400, "invalid_auto_topup", message)


def validate(data: dict[str, Any]) -> dict[str, Any] | Answer:
    """The four values as keyword arguments of :func:`credits.autotopup.update`, or the 400."""
    enabled = data.get("enabled")
    if not isinstance(enabled, bool):
        return _invalid(_("enabled must be true or false."))
    values: dict[str, int] = {}
    for name in ("thresholdCents", "amountCents", "monthlyCapCents"):
        value = data.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            return _invalid(
                _("%(name)s must be a whole number of cents written as a JSON integer, such as 2500 for $25.")
                % {"name": name}
            )
        if not 0 <= value <= autotopup.MAX_CENTS:
            return _invalid(_("%(name)s must not be negative.") % {"name": name})
        values[name] = value
    try:
        validate_amount_cents(values["amountCents"])
    except ValidationError as exc:
        return _invalid(exc.messages[0])
    if values["monthlyCapCents"] < values["amountCents"]:
        return _invalid(_("The monthly cap must be at least the amount of one top-up."))
    return {
        "enabled": enabled,
        "threshold_cents": values["thresholdCents"],
        "amount_cents": values["amountCents"],
        "monthly_cap_cents": values["monthlyCapCents"],
    }


@transaction.non_atomic_requests
@csrf_exempt  # checked by the gate, after the log-in check, so that each failure gets its JSON answer
@never_cache
def auto_topup(request: HttpRequest) -> JsonResponse:
    """``GET``: the setting (any logged-in user). ``PUT``: change it (``credits.manage_auto_topup``)."""
    if request.method not in METHODS:
        return respond(
            error(405, "method_not_allowed", _("Use %(method)s for this address.") % {"method": " or ".join(METHODS)})
        )
    method = str(request.method)
    refused = gate(request, method, csrf=method == "PUT")
    if refused is not None:
        return respond(refused)
    if method == "GET":
        return JsonResponse(autotopup.state(request.user))
    if not request.user.has_perm(autotopup.PERMISSION):
        return respond(error(403, "forbidden", _("Only a team member allowed to manage auto top-up can change it.")))
    data = read_body(request)
    if isinstance(data, Answer):
        return respond(data)
    values = validate(data)
    if isinstance(values, Answer):
        return respond(values)
    autotopup.update(request.user, **values)  # type: ignore[arg-type]
    return JsonResponse(autotopup.state(request.user))
