"""The pages' side of the widget: the top-up form without JavaScript and the recent top-ups.

``topup_form`` is a plain Django form post (CSRF by the middleware, log-in required) that
ends in a message and a redirect back to the page. ``recent_topups`` is the JSON list the
header menu shows, so an unknown outcome can be checked.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect, JsonResponse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from .conf import get_settings
from .forms import TopupForm
from .models import UNSETTLED, Source, Status, TopupAttempt, format_dollars
from .outcomes import error
from .permissions import may_top_up, refusal_sentence, who_to_ask
from .topups import request_topup
from .views import gate, respond


def success_message(amount_cents: int) -> str:
    """The sentence the widget and the form show after a top-up went through."""
    return _("Added %(amount)s") % {"amount": format_dollars(amount_cents)}


def _next_url(request: HttpRequest) -> str:
    for candidate in (request.POST.get("next"), request.headers.get("Referer")):
        if candidate and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return candidate
    return "/"


@transaction.non_atomic_requests  # the landing call never runs inside the request's transaction
@require_POST
@login_required
def topup_form(request: HttpRequest) -> HttpResponseRedirect:
    if not may_top_up(request.user):  # nothing recorded, nothing sent
        messages.error(request, refusal_sentence(who_to_ask()))
        return HttpResponseRedirect(_next_url(request))
    form = TopupForm(request.POST)
    if not form.is_valid():
        first = str(next(iter(form.errors.values()))[0])
        messages.error(request, first)
        return HttpResponseRedirect(_next_url(request))
    cents = form.cleaned_data["amount_cents"]
    answer = request_topup(
        request.user,  # type: ignore[arg-type]
        cents,
        key=form.cleaned_data["key"] or None,
        source=Source.FORM,
    )
    if answer.status == 200:
        messages.success(request, success_message(cents))
    elif answer.body.get("code") == "earlier_topup_succeeded":
        messages.success(request, answer.body["error"])
    elif answer.body.get("url"):
        messages.error(
            request,
            format_html('{} <a href="{}">{}</a>', answer.body["error"], answer.body["url"], _("Open the billing page")),
        )
    else:
        messages.error(request, answer.body.get("error") or _("The top-up did not go through."))
    return HttpResponseRedirect(_next_url(request))


def attempt_json(attempt: TopupAttempt) -> dict[str, Any]:
    """One line of the recent top-ups: amount, ISO time, status and a sentence for the status."""
    item: dict[str, Any] = {
        "id": str(attempt.pk),
        "amountCents": attempt.amount_cents,
        "amount": format_dollars(attempt.amount_cents),
        "createdAt": attempt.created_at.isoformat(),
        "status": attempt.status,
        "statusText": _("Checking…") if attempt.status in UNSETTLED else str(Status(attempt.status).label),
        "source": attempt.source,
    }
    if attempt.status in (Status.DECLINED, Status.ERROR, Status.REFUSED) and attempt.error_message:
        item["detail"] = attempt.error_message
    return item


@never_cache
def recent_topups(request: HttpRequest) -> JsonResponse:
    """``{"topups": [...]}``: the user's last ``CREDITS["RECENT_TOPUPS"]`` attempts, newest first."""
    refused = gate(request, "GET")
    if refused is not None:
        return respond(refused)
    limit = get_settings().RECENT_TOPUPS
    if limit <= 0:
        return respond(error(404, "not_found", _("Recent top-ups are turned off on this site.")))
    attempts = TopupAttempt.objects.filter(user=request.user).order_by("-created_at")[:limit]  # type: ignore[misc]
    return JsonResponse({"topups": [attempt_json(a) for a in attempts]})
