"""``{% credits_button %}`` and ``{% credits_sandbox_badge %}`` for a host site's header."""

from __future__ import annotations

from typing import Any

from django import template
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from ..amounts import preset_amounts
from ..conf import get_settings
from ..models import format_dollars

register = template.Library()


def widget_context(context: template.Context | dict[str, Any]) -> dict[str, Any]:
    """What both the header menu and the inline widget render from: no query, no landing call."""
    conf = get_settings()
    return {
        "request": context.get("request"),
        "presets": [(cents, format_dollars(cents)) for cents in preset_amounts(conf)],
        "min_dollars": conf.MIN_AMOUNT_CENTS // 100,
        "max_dollars": conf.MAX_AMOUNT_CENTS // 100,
        "topup_url": reverse("credits:topup-credits"),
        "balance_url": reverse("credits:credits"),
    }


@register.simple_tag(takes_context=True)
def credits_button(context: template.Context) -> SafeString:
    return SafeString(render_to_string("credits/button.html", widget_context(context)))


@register.simple_tag
def credits_sandbox_badge() -> SafeString:
    if not get_settings().SANDBOX:
        return SafeString("")
    return format_html(
        '<span class="credits-sandbox" title="{}">{}</span>',
        _("Top-ups go to the sandbox landing: no real money moves."),
        _("sandbox"),
    )
