"""What the header menu, the inline widget (:mod:`credits.templatetags.credits`) and the
credits page (:mod:`credits.views`) render from.

Reading settings, reversing URLs and the cached balance, and one query per request for the
user's top-up still in flight or unsettled (so a page loaded while one is under way says so at
once), and for the header one more for the last day's balance samples (the forecast, an
indexed range of ``at``); no landing call. The permission check adds its own when
``CREDITS["TOPUP_PERMISSION"]`` is set.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django import template
from django.middleware.csrf import get_token
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from .amounts import preset_amounts
from .balance import cached_balance
from .codes import UNSETTLED
from .conf import CreditsSettings, get_settings
from .forecast import RATE_LOOKBACK, Forecast, Sample, forecast
from .models import TopupAttempt
from .permissions import may_top_up, who_to_ask
from .samples import as_samples, history
from .words import format_dollars, format_money, msg_balance_detail, msg_still_processing, script_texts

DEFAULT_HEADING_LEVEL = 3  # the inline widget's title, as it always was
PAGE_URL_NAME = "credits_pages:page"  # the credits page, as credits/page_urls.py names it


def _may_top_up(conf: CreditsSettings, request: Any) -> bool:
    """Whether to show the amounts. With no permission required every logged-in user may, so
    the user is not even loaded (no query), as before permissions existed."""
    if conf.TOPUP_PERMISSION is None:
        return True
    return may_top_up(getattr(request, "user", None))


_UNREAD = object()


def request_balance(request: Any) -> dict[str, float] | None:
    """:func:`cached_balance`, read once per request however many widgets the page holds."""
    if request is None:
        return cached_balance()
    found = getattr(request, "_credits_cached_balance", _UNREAD)
    if found is _UNREAD:
        found = cached_balance()
        request._credits_cached_balance = found
    return found  # type: ignore[return-value]


def in_flight(request: Any) -> dict[str, Any] | None:
    """The user's newest top-up whose outcome is not known yet (pending or unknown), as the
    widgets show and watch it; read once per request however many widgets the page holds."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    found = getattr(request, "_credits_in_flight", _UNREAD)
    if found is _UNREAD:
        attempt = (
            TopupAttempt.objects.filter(user_id=user.pk, status__in=UNSETTLED)
            .order_by("-created_at")
            .values("pk", "amount_cents")
            .first()
        )
        found = (
            None
            if attempt is None
            else {
                "attempt": str(attempt["pk"]),
                "cents": attempt["amount_cents"],
                "text": msg_still_processing(attempt["amount_cents"]),
            }
        )
        request._credits_in_flight = found
    return found  # type: ignore[return-value]


def request_forecast(request: Any, samples: Sequence[Sample] | None = None) -> Forecast | None:
    """When the credits run out at the last day's rate (:func:`credits.forecast.forecast`), for
    a logged-in user: from ``samples`` when the caller read them already (the credits page reads
    a month), else from the last day's samples, one query; read once per request."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    found = getattr(request, "_credits_forecast", _UNREAD)
    if found is _UNREAD or samples is not None:
        now = timezone.now()
        found = forecast(as_samples(history(now - RATE_LOOKBACK)) if samples is None else samples, now)
        request._credits_forecast = found
    return found  # type: ignore[return-value]


def balance_display(balance: dict[str, float] | None, conf: CreditsSettings | None = None) -> dict[str, Any] | None:
    """What a page shows of ``balance``: the amount, whether it is low, and the detail line."""
    if balance is None:
        return None
    conf = conf or get_settings()
    return {
        "amount": format_money(balance["remaining"]),
        "low": balance["remaining"] < conf.LOW_BALANCE_DOLLARS,
        "detail": msg_balance_detail()
        % {"credits": format_money(balance["credits"]), "spend": format_money(balance["spend"])},
    }


def _current_app(request: Any) -> str | None:
    """The instance namespace to reverse in, as ``{% url %}`` chooses it."""
    if request is None:
        return None
    current_app = getattr(request, "current_app", None)
    if current_app is None:
        match = getattr(request, "resolver_match", None)
        current_app = match.namespace if match else None
    return current_app


def credits_page_url(request: Any = None) -> str:
    """The credits page's address on this site (the documented name ``credits_pages:page``,
    from ``include("credits.page_urls")``), or "" where the host did not mount it."""
    try:
        return reverse(PAGE_URL_NAME, current_app=_current_app(request))
    except NoReverseMatch:
        return ""


def heading_tag(level: Any) -> str:
    """``2`` → ``"h2"``; ``0`` → ``"p"`` (a label, not a heading); None or "" → the default ``h3``."""
    if level is None or level == "":
        return f"h{DEFAULT_HEADING_LEVEL}"
    try:
        number = int(level)
    except (TypeError, ValueError):
        number = -1
    if not 0 <= number <= 6:
        raise template.TemplateSyntaxError(f"heading_level must be 1 to 6, or 0 for no heading, not {level!r}")
    return f"h{number}" if number else "p"


def widget_context(context: template.Context | Mapping[str, Any], source: str) -> dict[str, Any]:
    """What the header menu and the inline widget render from: no landing call; the user's
    top-up in flight (one query a request), the header's forecast (one more), and the
    permission's queries when one is required (see :mod:`credits.templatetags.credits`)."""
    conf = get_settings()
    request = context.get("request")
    uid = "credits-" + uuid.uuid4().hex[:10]
    allowed = _may_top_up(conf, request)
    pending = in_flight(request)
    outlook = request_forecast(request) if source == "header" else None
    if source == "inline" and request is not None:
        request._credits_exhausted_shown = True  # the warning, rendered after it, need not say it again
    return {
        "uid": uid,
        "source": source,
        "balance": balance_display(request_balance(request), conf),
        "may_top_up": allowed,
        "who_to_ask": "" if allowed else who_to_ask(),
        "presets": [
            {"cents": cents, "dollars": cents // 100, "label": format_dollars(cents)} for cents in preset_amounts(conf)
        ],
        "min_dollars": -(-conf.MIN_AMOUNT_CENTS // 100),
        "max_dollars": conf.MAX_AMOUNT_CENTS // 100,
        "range_text": _("Whole dollars, %(min)s to %(max)s.")
        % {"min": format_dollars(conf.MIN_AMOUNT_CENTS), "max": format_dollars(conf.MAX_AMOUNT_CENTS)},
        "low_balance": conf.LOW_BALANCE_DOLLARS,
        "confirm_above_cents": conf.confirm_above_cents,
        "topup_url": reverse("credits:topup-credits"),
        "balance_url": reverse("credits:credits"),
        "form_url": reverse("credits:topup-form"),
        "recent_url": reverse("credits:recent-topups") if conf.RECENT_TOPUPS > 0 else "",
        "seen_url": reverse("credits:topup-seen"),
        "recent_count": conf.RECENT_TOPUPS,
        # get_token reads the cookie (or makes a token): no query. The form posts it without
        # JavaScript and the script sends it as X-CSRFToken, so an HttpOnly cookie is fine.
        "csrf_token": get_token(request) if request is not None else "",
        "next": request.get_full_path() if request is not None else "",
        # One idempotency key per rendered form: submitting the same page twice charges once.
        "preset_key": uuid.uuid4().hex,
        "custom_key": uuid.uuid4().hex,
        "texts": json.dumps(script_texts(conf), ensure_ascii=False),
        "pending": pending,
        "forecast": outlook.phrase if outlook is not None and outlook.state == "forecast" else "",
        "pending_json": json.dumps({"attempt": pending["attempt"], "cents": pending["cents"]}) if pending else "",
    }
