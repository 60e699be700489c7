"""``{% credits_assets %}``, ``{% credits_button %}``, ``{% credits_inline_widget %}``,
``{% credits_warning %}`` and ``{% credits_sandbox_badge %}``: inclusion tags, so a host
overrides their templates the usual Django way (``credits/assets.html``, ``credits/button.html``,
``credits/_inline.html``, ``credits/_warning.html``, ``credits/sandbox_badge.html``).

Rendering reads settings, reverses URLs, looks at the cached balance and asks the database
once per request for the user's top-up still in flight (so a page loaded meanwhile says so at
once), and once more for the header's forecast (the last day's balance samples, shown as a
sentence in its menu); no call to the landing. A balance still in the cache (a few seconds old
at most) is shown at once, also without JavaScript; ``credits.js`` fetches a fresh one and
the recent top-ups after load. Only when ``CREDITS["TOPUP_PERMISSION"]`` is set does it ask
whether the user holds it (``has_perm``: Django's permission queries, once per request) and,
for one who does not, who to ask (one query, cached a minute).

``{% credits_assets %}`` in the page's ``<head>`` writes the app's stylesheet and script
(``defer``) with the request's CSP nonce (django-csp's ``request.csp_nonce``) when there is
one. It writes them once per page: a second ``{% credits_assets %}`` writes nothing, and on a
page without it the first widget writes them itself (a host that follows the installing steps
as they were keeps working); no widget writes them again.

Without JavaScript the header shows a "+ credits" link to the credits page, reversed from its
documented name ``credits_pages:page`` (``include("credits.page_urls")`` anywhere outside a
JSON-only prefix), so the header stays one line; on a site without the page, the header's forms
show in place, as before. ``{% credits_button page_url="..." %}`` names the page explicitly
(``page_url=""``: none).

The inline widget's title is an ``h3`` unless told otherwise: ``{% credits_inline_widget
heading_level=2 %}``, or ``{% include "credits/inline_widget.html" with
credits_heading_level=2 %}``; ``0`` makes it a plain label (the region keeps its name).
"""

from __future__ import annotations

from typing import Any

from django import template

from ..alerts import current_warning
from ..conf import get_settings
from ..widgets import credits_page_url, heading_tag, request_balance, widget_context
from ._assets import assets_context

register = template.Library()


@register.inclusion_tag("credits/assets.html", takes_context=True)
def credits_assets(context: template.Context) -> dict[str, Any]:
    """The app's ``<link rel="stylesheet">`` and ``<script defer>``, with the CSP nonce; once per page."""
    return assets_context(context)


@register.inclusion_tag("credits/button.html", takes_context=True)
def credits_button(context: template.Context, page_url: str | None = None) -> dict[str, Any]:
    """The header's "+ credits" button, the balance beside it and the top-up panel; without
    JavaScript, a link to the credits page instead (see the module's docstring)."""
    request = context.get("request")
    values = widget_context(context, "header")
    values["page_url"] = credits_page_url(request) if page_url is None else str(page_url)
    values["on_page"] = bool(values["page_url"]) and getattr(request, "path", None) == values["page_url"]
    values.update(assets_context(context))
    return values


@register.inclusion_tag("credits/_inline.html", takes_context=True)
def credits_inline_widget(context: template.Context, heading_level: Any = None) -> dict[str, Any]:
    """The "Credits exhausted" widget for a message that ran out of credits; many per page are fine.
    ``heading_level`` (or ``credits_heading_level`` in the context): its title's level, 3 by default.
    ``{% include "credits/inline_widget.html" %}`` renders this tag."""
    values = widget_context(context, "inline")
    values["title_tag"] = heading_tag(context.get("credits_heading_level") if heading_level is None else heading_level)
    values.update(assets_context(context))
    return values


@register.inclusion_tag("credits/_warning.html", takes_context=True)
def credits_warning(context: template.Context) -> dict[str, Any]:
    """The "Credits are running low" warning with the top-up controls, for above a chat's message
    box: shown while the site is running low (:mod:`credits.alerts`, one query), hidden otherwise,
    and hidden at $0 on a page whose "Credits exhausted" widget (rendered before it) says so;
    ``credits.js`` shows and hides it as the balance it refreshes says."""
    values = widget_context(context, "warning")
    balance = request_balance(context.get("request"))
    out = balance is not None and balance["remaining"] <= 0
    # Out of credits, with a stopped task's "Credits exhausted" widget above: that one says it.
    exhausted = out and getattr(context.get("request"), "_credits_exhausted_shown", False)
    values["warning"] = "" if exhausted else current_warning()
    values.update(assets_context(context))
    return values


@register.inclusion_tag("credits/sandbox_badge.html", takes_context=True)
def credits_sandbox_badge(context: template.Context) -> dict[str, Any]:
    """A visible "sandbox" badge while the sandbox landing is in use (``CREDITS["SANDBOX"]``)."""
    return {"sandbox": get_settings().SANDBOX}
