"""The app's HTML side: the top-up form without JavaScript and the credits page.

``topup_form`` is a plain Django form post (CSRF by the middleware, log-in required) that
ends in a message and a redirect back to the page. ``credits_page`` is where the header's
"+ credits" leads without JavaScript: the balance read on the server, the amounts (the same
forms), the auto top-up setting and the user's recent top-ups. Being HTML, it is not in the
JSON URLconf (``credits.urls``) but in ``credits.page_urls`` (``app_name = "credits_pages"``),
which a host mounts outside its JSON API (reef_site: ``/ui/credits/``); the header finds it by
reversing ``credits_pages:page``. The JSON endpoints are in :mod:`credits.api`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from . import autotopup, charts
from .api import attempt_json
from .balance import cached_balance, read_balance
from .codes import UNSETTLED, Code, Source
from .conf import get_settings
from .db import give_back
from .exceptions import BalanceUnavailable, LandingBusy, LandingError, LandingNotConfigured
from .forecast import Sample, daily_spend
from .forms import TopupForm
from .models import TopupAttempt
from .permissions import may_top_up, refusal_sentence, who_to_ask
from .samples import as_samples, history
from .topups import request_topup
from .widgets import balance_display, request_forecast, widget_context
from .words import (
    format_dollars,
    format_money,
    msg_added,
    msg_balance_not_configured,
    msg_confirm,
    msg_no_history,
    msg_open_billing,
    msg_spend_summary,
)

CHART_DAYS = 30  # the daily spend's bars
LINE_DAYS = 7  # the remaining credits' line


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
def topup_form(request: HttpRequest) -> HttpResponse:
    if not may_top_up(request.user):  # nothing recorded, nothing sent
        messages.error(request, refusal_sentence(who_to_ask()))
        return HttpResponseRedirect(_next_url(request))
    form = TopupForm(request.POST)
    if not form.is_valid():
        first = str(next(iter(form.errors.values()))[0])
        messages.error(request, first)
        return HttpResponseRedirect(_next_url(request))
    cents = form.cleaned_data["amount_cents"]
    confirm_above = get_settings().confirm_above_cents
    if confirm_above and cents >= confirm_above and request.POST.get("confirmed") != "1":
        return _confirm(request, form)
    result = request_topup(
        request.user,  # type: ignore[arg-type]
        cents,
        key=form.cleaned_data["key"] or None,
        source=Source.FORM,
    )
    if result.succeeded:
        messages.success(request, msg_added(cents))
    elif result.code == Code.EARLIER_TOPUP_SUCCEEDED:
        messages.success(request, result.message)
    elif result.code == Code.EARLIER_IN_PROGRESS:
        messages.info(request, result.message)
    elif result.url:
        messages.error(request, format_html('{} <a href="{}">{}</a>', result.message, result.url, msg_open_billing()))
    else:
        messages.error(request, result.message or _("The top-up did not go through."))
    return HttpResponseRedirect(_next_url(request))


def _confirm(request: HttpRequest, form: TopupForm) -> HttpResponse:
    """A large amount asks first, without JavaScript too: the same post again with
    ``confirmed=1`` (and the page's key, so confirming twice charges once), or back."""
    cents = form.cleaned_data["amount_cents"]
    context = {
        "question": msg_confirm(cents),
        "amount": cents // 100,
        "key": form.cleaned_data["key"],
        "next": _next_url(request),
    }
    return render(request, "credits/confirm.html", context)


def _page_balance() -> tuple[dict[str, Any] | None, str]:
    """The balance to show on the page, or None and the sentence that says why there is none.
    A cached balance costs nothing; else the landing is asked, with its short timeout
    (``BALANCE_TIMEOUT``), holding no pooled database connection meanwhile."""
    balance = cached_balance()
    if balance is None:
        give_back()
        try:
            balance = read_balance()  # the cache was just read: past it
        except LandingNotConfigured:
            return None, msg_balance_not_configured()
        except LandingBusy:
            return None, _("The balance cannot be read right now. Reload the page in a moment to try again.")
        except (LandingError, BalanceUnavailable):
            return None, _(
                "The balance cannot be read from the billing service right now. Reload the page to try again."
            )
    return balance_display(balance), ""


def _auto_topup_summary(user: Any) -> dict[str, str]:
    """The team's auto top-up setting in words, as the header menu says it (read-only here)."""
    state = autotopup.state(user)
    values = {
        "threshold": format_dollars(state["thresholdCents"]),
        "amount": format_dollars(state["amountCents"]),
        "cap": format_dollars(state["monthlyCapCents"]),
        "spent": format_dollars(state["spentThisMonthCents"]),
    }
    if state["enabled"]:
        summary = (
            _("On: when the balance falls below %(threshold)s, %(amount)s is added, at most %(cap)s a month.") % values
            + " "
            + _("Spent this month: %(spent)s of %(cap)s.") % values
        )
    else:
        summary = _("Off: credits are only added by hand.")
        if not state["canManage"]:
            summary += " " + _("Ask a team member who manages auto top-up to change it.")
    reason = state["disabledReason"]
    return {
        "summary": summary,
        "reason": _("Auto top-up was turned off: %(reason)s") % {"reason": reason} if reason else "",
    }


def _spend_history(request: HttpRequest, uid: str) -> dict[str, Any]:
    """The page's chart, its sentence and its table: one query for the month's samples, which
    also give the header its forecast (so the header asks for none)."""
    now = timezone.now()
    tz = timezone.get_current_timezone()
    samples: list[Sample] = as_samples(history(now - timedelta(days=CHART_DAYS)))
    outlook = request_forecast(request, samples)
    assert outlook is not None  # the page is for a logged-in user only
    if not samples:  # no history: nothing to draw, and never a made-up zero
        return {"summary_id": f"{uid}-spend-summary", "summary": msg_no_history(), "chart": "", "rows": []}
    daily = daily_spend(samples, CHART_DAYS, now, tz)
    start = now - timedelta(days=LINE_DAYS)
    recent = [sample for sample in samples if sample.at >= start]
    # The line: the last reading of each hour; the table: the last of each day.
    hourly = {sample.at.replace(minute=0, second=0, microsecond=0): sample.remaining for sample in recent}
    day_end = {sample.at.astimezone(tz).date(): sample.remaining for sample in recent}
    summary_id = f"{uid}-spend-summary"
    summary = msg_spend_summary(format_money(sum(dollars for _day, dollars in daily)), CHART_DAYS, outlook)
    return {
        "summary_id": summary_id,
        "summary": summary,
        "chart": charts.chart(
            [dollars for _day, dollars in daily],
            [((at - start) / (now - start), dollars) for at, dollars in hourly.items()],
            labelledby=summary_id,
            spend_label=_("Daily spend, last %(days)d days") % {"days": CHART_DAYS},
            remaining_label=_("Remaining credits, last %(days)d days") % {"days": LINE_DAYS},
        ),
        "rows": [
            {
                "date": day,
                "spend": format_money(dollars),
                "remaining": format_money(day_end[day]) if day in day_end else "",
            }
            for day, dollars in daily
        ],
    }


@transaction.non_atomic_requests  # the balance may be read from the landing: no transaction held open
@never_cache
@require_safe
@login_required
def credits_page(request: HttpRequest) -> HttpResponse:
    """``GET``: the team's balance, its spend history (a chart drawn on the server, a sentence
    and a table), the amounts, the auto top-up setting and the user's recent top-ups, rendered
    on the server; what the header's "+ credits" leads to without JavaScript.
    The forms post to ``topup-form`` and come back here with a message."""
    balance, problem = _page_balance()
    context = widget_context({"request": request}, "form")
    limit = get_settings().RECENT_TOPUPS
    attempts = TopupAttempt.objects.filter(user=request.user).order_by("-created_at")[:limit] if limit > 0 else []  # type: ignore[misc]
    recent = [attempt_json(attempt) | {"created": attempt.created_at} for attempt in attempts]
    context.update(
        {
            "page_balance": balance,
            "balance_problem": problem,
            "recent": recent,
            "has_unsettled": any(item["status"] in UNSETTLED for item in recent),
            "show_recent": limit > 0,
            "auto_topup": _auto_topup_summary(request.user),
            "spend": _spend_history(request, context["uid"]),
        }
    )
    return render(request, "credits/page.html", context)
