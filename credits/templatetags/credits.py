"""``{% credits_button %}``, ``{% credits_inline_widget %}`` and ``{% credits_sandbox_badge %}``.

Rendering reads settings and reverses URLs, nothing more: no database query and no call to
the landing. The balance and the recent top-ups are fetched by ``credits.js`` after load.
Only when ``CREDITS["TOPUP_PERMISSION"]`` is set does it ask whether the user holds it
(``has_perm``: Django's permission queries, once per request) and, for one who does not,
who to ask (one query, cached a minute).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import template
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from ..amounts import preset_amounts
from ..conf import CreditsSettings, get_settings
from ..models import format_dollars
from ..permissions import may_top_up, who_to_ask

register = template.Library()


def texts(conf: CreditsSettings) -> dict[str, str]:
    """The sentences ``credits.js`` shows, translated here so the script holds no English."""
    return {
        "added": _("Added %(amount)s"),
        "adding": _("Adding %(amount)s…"),
        "invalid": _("Enter a whole number of dollars, such as 10."),
        "range": _("A top-up must be from %(min)s to %(max)s.")
        % {"min": format_dollars(conf.MIN_AMOUNT_CENTS), "max": format_dollars(conf.MAX_AMOUNT_CENTS)},
        "network": _(
            "The connection to the site failed, so we do not know whether the credits were added. "
            "Check your balance before trying again."
        ),
        "badAnswer": _(
            "The site gave no usable answer, so we do not know whether the credits were added. "
            "Check your balance before trying again."
        ),
        "retrySafe": _("Pressing the same amount again is safe: it cannot be charged twice."),
        "billing": _("Open the billing page"),
        "low": _("Low balance"),
        "unavailable": _("unavailable"),
        "unavailableLong": _("The balance cannot be read right now."),
        "detail": _("Credits %(credits)s, spent %(spend)s"),
        "recentEmpty": _("No top-ups yet."),
        "recentError": _("Recent top-ups cannot be loaded right now."),
    }


def _may_top_up(conf: CreditsSettings, request: Any) -> bool:
    """Whether to show the amounts. With no permission required every logged-in user may, so
    the user is not even loaded (no query), as before permissions existed."""
    if conf.TOPUP_PERMISSION is None:
        return True
    return may_top_up(getattr(request, "user", None))


def widget_context(context: template.Context | dict[str, Any], source: str) -> dict[str, Any]:
    """What the header menu and the inline widget render from: no landing call, and no query
    unless a permission is required (see the module's docstring)."""
    conf = get_settings()
    request = context.get("request")
    uid = "credits-" + uuid.uuid4().hex[:10]
    allowed = _may_top_up(conf, request)
    return {
        "uid": uid,
        "source": source,
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
        "texts": json.dumps(texts(conf), ensure_ascii=False),
    }


@register.simple_tag(takes_context=True)
def credits_button(context: template.Context) -> SafeString:
    """The header's "+ credits" button, the balance beside it and the top-up panel."""
    return SafeString(render_to_string("credits/button.html", widget_context(context, "header")))


@register.simple_tag(takes_context=True)
def credits_inline_widget(context: template.Context) -> SafeString:
    """The "Credits exhausted" widget for a message that ran out of credits; many per page are fine."""
    return SafeString(render_to_string("credits/_inline.html", widget_context(context, "inline")))


@register.simple_tag
def credits_sandbox_badge() -> SafeString:
    if not get_settings().SANDBOX:
        return SafeString("")
    return format_html(
        '<span class="credits-sandbox" title="{}">{}</span>',
        _("Top-ups go to the sandbox landing: no real money moves."),
        _("sandbox"),
    )
