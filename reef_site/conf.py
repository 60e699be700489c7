"""The site's log-in settings: one ``MAGIC_LINKS`` dict, read at call time, with defaults
(loaded by ``credits.conf.load_settings``, as the chat's ``CHAT`` and the app's ``CREDITS``)."""

from __future__ import annotations

from dataclasses import dataclass

from credits.conf import load_settings


@dataclass(frozen=True)
class MagicLinkSettings:
    SECONDS: int = 10 * 60  # how long a log-in link works (once)
    # Log-in links for staff and superusers too (off: they log in with a password, which
    # django-axes throttles; a leaked link or server token then cannot open the admin).
    FOR_STAFF: bool = False


def get_settings() -> MagicLinkSettings:
    """The current ``settings.MAGIC_LINKS`` over the defaults."""
    return load_settings("MAGIC_LINKS", MagicLinkSettings)
