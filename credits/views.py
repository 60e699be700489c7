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
from urllib.parse import urlsplit

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
from django.views.decorators.http import require_http_methods, require_POST

from . import autotopup, charts
from .api import attempt_json
from .balance import cached_balance, read_balance
from .codes import UNSETTLED, Code, Source
from .conf import get_settings
from .db import give_back
from .exceptions import BalanceUnavailable, LandingBusy, LandingError, LandingNotConfigured
from .forecast import Sample, daily_spend
from .forms import AutoTopupPageForm, TopupForm
from .models import TopupAttempt
from .permissions import may_top_up, refusal_sentence, who_to_ask
from .samples import as_samples, history
from .topups import request_topup
from .widgets import balance_display, credits_page_url, request_forecast, widget_context
from .words import (
    auto_topup_line,
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
CUSTOM_SESSION_KEY = "credits_custom_amount"  # an invalid custom amount, kept for the credits page to show once
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
        back = _next_url(request)
        session = getattr(request, "session", None)
        if "amount" in form.errors and session is not None and _is_credits_page(request, back):
            # From the credits page: back to it, where the amount as typed shows with the error beside it.
            session[CUSTOM_SESSION_KEY] = {"value": request.POST.get("amount", "")[:20], "error": first}
        else:
            messages.error(request, first)
        return HttpResponseRedirect(back)
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
        link = '{} <a href="{}" target="_blank" rel="noopener">{}</a>'  # the page it came from stays
        messages.error(request, format_html(link, result.message, result.url, msg_open_billing()))
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


def _is_credits_page(request: HttpRequest, url: str) -> bool:
    page = credits_page_url(request)
    return bool(page) and urlsplit(url).path == page


def _auto_topup_summary(user: Any, form: AutoTopupPageForm | None = None) -> dict[str, Any]:
    """The team's auto top-up setting in words, as the header menu says it, and for those who
    may change it (``credits.manage_auto_topup``, as ``PUT auto-topup`` asks) its form."""
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
    if state["canManage"] and form is None:
        form = AutoTopupPageForm(
            initial={
                "enabled": state["enabled"],
                "threshold": state["thresholdCents"] // 100,
                "amount": state["amountCents"] // 100,
                "monthly_cap": state["monthlyCapCents"] // 100,
            }
        )
    return {
        "line": auto_topup_line(state["enabled"], state["amountCents"], state["thresholdCents"]),
        "summary": summary,
        "reason": _("Auto top-up was turned off: %(reason)s") % {"reason": reason} if reason else "",
        "form": form if state["canManage"] else None,
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
@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def credits_page(request: HttpRequest) -> HttpResponse:
    """``GET``: the team's balance, its spend history (a chart drawn on the server, a sentence
    and a table), the amounts, the auto top-up setting and the user's recent top-ups, rendered
    on the server; what the header's "+ credits" leads to without JavaScript.
    The amounts post to ``topup-form`` and come back here with a message (an invalid custom
    amount: kept, with its error beside the field instead). ``POST`` here is the
    auto top-up's own form, for those who may change it (the permission ``PUT auto-topup`` asks)."""
    if request.method == "POST":
        return _save_auto_topup(request)
    session = getattr(request, "session", None)
    custom = session.pop(CUSTOM_SESSION_KEY, None) if session is not None else None
    return _render_page(request, {"custom": custom} if isinstance(custom, dict) else None)


def _save_auto_topup(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(autotopup.PERMISSION):
        messages.error(request, _("Only a team member allowed to manage auto top-up can change it."))
        return HttpResponseRedirect(request.path)
    form = AutoTopupPageForm(request.POST)
    if not form.is_valid():
        return _render_page(request, {"auto_form": form}, status=400)
    autotopup.update(request.user, **form.cleaned_data)  # type: ignore[arg-type]
    messages.success(request, _("Saved. %(state)s.") % {"state": _auto_topup_summary(request.user)["line"]})
    return HttpResponseRedirect(request.path)


def _render_page(request: HttpRequest, extra: dict[str, Any] | None = None, status: int = 200) -> HttpResponse:
    """The credits page; ``extra``: ``custom`` (an invalid custom amount as typed, and its error)
    or ``auto_form`` (the auto top-up form with its errors)."""
    extra = extra or {}
    balance, problem = _page_balance()
    context = widget_context({"request": request}, "form")
    limit = get_settings().RECENT_TOPUPS
    attempts = TopupAttempt.objects.filter(user=request.user).order_by("-created_at")[:limit] if limit > 0 else []  # type: ignore[misc]
    recent = [attempt_json(attempt) for attempt in attempts]
    context.update(
        {
            "page_balance": balance,
            "balance_problem": problem,
            "recent": recent,
            "has_unsettled": any(item["status"] in UNSETTLED for item in recent),
            "show_recent": limit > 0,
            "auto_topup": _auto_topup_summary(request.user, extra.get("auto_form")),
            "spend": _spend_history(request, context["uid"]),
            "custom": extra.get("custom"),
        }
    )
    if request.method == "POST":
        context["next"] = request.path
    return render(request, "credits/page.html", context, status=status)
