"""``{% credits_button %}``, ``{% credits_inline_widget %}`` and ``{% credits_sandbox_badge %}``.

Rendering reads settings, reverses URLs and looks at the cached balance, nothing more: no
database query and no call to the landing. A balance still in the cache (a few seconds old
at most) is shown at once, also without JavaScript; ``credits.js`` fetches a fresh one and
the recent top-ups after load. Only when ``CREDITS["TOPUP_PERMISSION"]`` is set does it ask
whether the user holds it (``has_perm``: Django's permission queries, once per request) and,
for one who does not, who to ask (one query, cached a minute).

Without JavaScript the header shows a "+ credits" link to the credits page
(:func:`credits.form_views.credits_page`) where the host has mounted that view (any path,
any name: it is found in the URLconf), so the header stays one line; on a site without the
page, the header's forms show in place, as before. ``{% credits_button page_url="..." %}``
names the page explicitly (``page_url=""``: none).

The inline widget's title is an ``h3`` unless told otherwise: ``{% credits_inline_widget
heading_level=2 %}``, or ``{% include "credits/inline_widget.html" with
credits_heading_level=2 %}``; ``0`` makes it a plain label (the region keeps its name).
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from django import template
from django.core.cache import caches
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, get_urlconf, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from ..amounts import preset_amounts
from ..balance import CACHE_KEY, parse_balance
from ..conf import CreditsSettings, get_settings
from ..models import format_dollars
from ..permissions import may_top_up, who_to_ask

register = template.Library()
logger = logging.getLogger(__name__)

DEFAULT_HEADING_LEVEL = 3  # the inline widget's title, as it always was


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


def format_money(dollars: float) -> str:
    """``12.5`` → ``"$12.50"``, ``-2`` → ``"-$2.00"``: as ``credits.js`` shows a balance."""
    sign = "-" if dollars < 0 else ""
    return f"{sign}${abs(dollars):,.2f}"


def cached_balance() -> dict[str, float] | None:
    """The team's balance if the cache holds one (never a landing call; at most
    ``BALANCE_CACHE_SECONDS`` old), else None. A cache that fails is no balance, not an error page."""
    conf = get_settings()
    try:
        cached = caches[conf.BALANCE_CACHE_ALIAS].get(CACHE_KEY)
    except Exception:  # a cache server that is down must not take every page with it
        logger.warning("The balance cache cannot be read", exc_info=True)
        return None
    return parse_balance(cached)


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


def balance_display(balance: dict[str, float] | None, conf: CreditsSettings | None = None) -> dict[str, Any] | None:
    """What a page shows of ``balance``: the amount, whether it is low, and the detail line."""
    if balance is None:
        return None
    conf = conf or get_settings()
    return {
        "amount": format_money(balance["remaining"]),
        "low": balance["remaining"] < conf.LOW_BALANCE_DOLLARS,
        "detail": _("Credits %(credits)s, spent %(spend)s")
        % {"credits": format_money(balance["credits"]), "spend": format_money(balance["spend"])},
    }


def _find_page(patterns: Sequence[Any], namespaces: tuple[str, ...]) -> str | None:
    from ..form_views import credits_page

    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = (*namespaces, pattern.namespace) if pattern.namespace else namespaces
            found = _find_page(pattern.url_patterns, inner)
            if found:
                return found
        elif isinstance(pattern, URLPattern) and pattern.callback is credits_page and pattern.name:
            return ":".join((*namespaces, pattern.name))
    return None


@functools.lru_cache(maxsize=8)
def _page_name(resolver: URLResolver) -> str | None:
    """The (namespaced) name under which this URLconf mounts the credits page, if it does.
    Cached per resolver: Django makes a new one when the URLconf changes."""
    return _find_page(resolver.url_patterns, ())


def credits_page_url() -> str:
    """The credits page's address on this site, or "" where the host did not mount it."""
    name = _page_name(get_resolver(get_urlconf()))
    if not name:
        return ""
    try:
        return reverse(name)
    except NoReverseMatch:  # mounted with arguments in its path: it cannot be linked to
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
def credits_button(context: template.Context, page_url: str | None = None) -> SafeString:
    """The header's "+ credits" button, the balance beside it and the top-up panel; without
    JavaScript, a link to the credits page instead (see the module's docstring)."""
    values = widget_context(context, "header")
    values["page_url"] = credits_page_url() if page_url is None else str(page_url)
    request = context.get("request")
    values["on_page"] = bool(values["page_url"]) and getattr(request, "path", None) == values["page_url"]
    return SafeString(render_to_string("credits/button.html", values))


@register.simple_tag(takes_context=True)
def credits_inline_widget(context: template.Context, heading_level: Any = None) -> SafeString:
    """The "Credits exhausted" widget for a message that ran out of credits; many per page are fine.
    ``heading_level`` (or ``credits_heading_level`` in the context): its title's level, 3 by default."""
    values = widget_context(context, "inline")
    values["title_tag"] = heading_tag(context.get("credits_heading_level") if heading_level is None else heading_level)
    return SafeString(render_to_string("credits/_inline.html", values))


@register.simple_tag
def credits_sandbox_badge() -> SafeString:
    if not get_settings().SANDBOX:
        return SafeString("")
    return format_html(
        '<span class="credits-sandbox" title="{}">{}</span>',
        _("Top-ups go to the sandbox landing: no real money moves."),
        _("sandbox"),
    )
