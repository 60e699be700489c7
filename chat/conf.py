"""The chat's settings: one ``CHAT`` dict, read at call time, with defaults (loaded by
``credits.conf.load_settings``: unknown keys are refused, and the parsed settings are kept
until Django says ``CHAT`` changed)."""

from __future__ import annotations

from dataclasses import dataclass

from credits.conf import load_settings


@dataclass(frozen=True)
class ChatSettings:
    AGENT: str = "chat.agents.DemoAgent"  # dotted path to a class with ``respond`` or to a callable
    OUT_OF_CREDITS_MARKER: str | None = "No credits available"  # for agents that only return text
    SPEND_CENTS: int = 25  # what one answer of the demo agent spends


# The log-in moved out of the chat into reef_site, and its settings with it.
_MOVED = {
    "MAGIC_LINK_SECONDS": "MAGIC_LINK_SECONDS moved with the log-in: settings.MAGIC_LINKS['SECONDS'].",
    "MAGIC_LINKS_FOR_STAFF": "MAGIC_LINKS_FOR_STAFF moved with the log-in: settings.MAGIC_LINKS['FOR_STAFF'].",
}


def get_settings() -> ChatSettings:
    """The current ``settings.CHAT`` over the defaults."""
    return load_settings("CHAT", ChatSettings, moved=_MOVED)
