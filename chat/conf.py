"""The chat's settings: one ``CHAT`` dict, read at call time, with defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class ChatSettings:
    AGENT: str = "chat.agents.DemoAgent"  # dotted path to a class with ``respond`` or to a callable
    OUT_OF_CREDITS_MARKER: str | None = "No credits available"  # for agents that only return text
    SPEND_CENTS: int = 25  # what one answer of the demo agent spends
    MAGIC_LINK_SECONDS: int = 10 * 60
    # Log-in links for staff and superusers too (off: they log in with a password, which
    # django-axes throttles; a leaked link or server token then cannot open the admin).
    MAGIC_LINKS_FOR_STAFF: bool = False


_NAMES = frozenset(f.name for f in fields(ChatSettings))


def get_settings() -> ChatSettings:
    """The current ``settings.CHAT`` over the defaults."""
    given: Any = getattr(django_settings, "CHAT", {}) or {}
    if not isinstance(given, dict):
        raise ImproperlyConfigured("settings.CHAT must be a dict, such as {'AGENT': 'chat.agents.DemoAgent'}.")
    unknown = sorted(set(given) - _NAMES)
    if unknown:
        raise ImproperlyConfigured(
            f"settings.CHAT has unknown key(s) {', '.join(unknown)}; the known keys are {', '.join(sorted(_NAMES))}."
        )
    return ChatSettings(**given)
