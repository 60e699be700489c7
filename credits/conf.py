"""The app's settings: one ``CREDITS`` dict, read at call time, with defaults.

Nothing here is read at import, so ``override_settings(CREDITS=...)`` works everywhere: the
parsed settings are kept until Django says a setting changed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver


@dataclass(frozen=True)
class CreditsSettings:
    LANDING_URL: str = "https://vers.sh"
    AUTH_TOKEN: str | None = None
    TIMEOUT: float = 20.0  # the whole top-up call to the landing, start to end
    CONNECT_TIMEOUT: float = 3.0  # seconds to open a connection to the landing
    BALANCE_TIMEOUT: float = 5.0  # the whole balance call, start to end (TIMEOUT is the top-up's)
    MAX_LANDING_CALLS: int = 50  # landing calls in flight per process; past it, 503 busy at once
    MIN_AMOUNT_CENTS: int = 500
    MAX_AMOUNT_CENTS: int = 100_000
    PRESET_AMOUNTS_CENTS: tuple[int, ...] = (500, 1000, 2500, 5000)
    MAX_ATTEMPTS_PER_HOUR: int = 10
    MAX_CENTS_PER_DAY: int = 200_000
    IDEMPOTENCY_WINDOW_SECONDS: int = 24 * 60 * 60
    BALANCE_CACHE_SECONDS: int = 10
    BALANCE_CACHE_ALIAS: str = "default"
    LOW_BALANCE_DOLLARS: float = 5.0
    RECENT_TOPUPS: int = 5
    SANDBOX: bool = False
    # Settlement of outcomes that were not known at once (see credits.settlement).
    PENDING_GRACE_SECONDS: float = 30.0  # a pending attempt is settled TIMEOUT + this after its claim
    SETTLE_BACKOFF_SECONDS: float = 10.0  # the first wait between settlement tries, then doubled
    SETTLE_BACKOFF_MAX_SECONDS: float = 3600.0
    OPERATOR_AFTER_SECONDS: int = 24 * 60 * 60  # unsettled this long: flagged for an operator
    # Who may add credits (see credits.permissions). None: every logged-in user, as in reef.
    TOPUP_PERMISSION: str | None = None  # a permission name, "app_label.codename", such as "credits.top_up"
    TOPUP_CONTACT: str = ""  # shown to the others, such as "Ask Ada or Grace."; empty: the holders are named

    @property
    def landing_url(self) -> str:
        return self.LANDING_URL.rstrip("/")


_NAMES = frozenset(f.name for f in fields(CreditsSettings))


@functools.cache
def get_settings() -> CreditsSettings:
    """The current ``settings.CREDITS`` over the defaults (parsed once, read many times a request)."""
    given: Any = getattr(django_settings, "CREDITS", {}) or {}
    if not isinstance(given, dict):
        raise ImproperlyConfigured("settings.CREDITS must be a dict, such as {'AUTH_TOKEN': '...'}.")
    unknown = sorted(set(given) - _NAMES)
    if unknown:
        raise ImproperlyConfigured(
            f"settings.CREDITS has unknown key(s) {', '.join(unknown)}; the known keys are {', '.join(sorted(_NAMES))}."
        )
    values = dict(given)
    if "PRESET_AMOUNTS_CENTS" in values:
        values["PRESET_AMOUNTS_CENTS"] = tuple(values["PRESET_AMOUNTS_CENTS"])
    if not values.get("AUTH_TOKEN"):
        values["AUTH_TOKEN"] = None
    if not values.get("TOPUP_PERMISSION"):
        values["TOPUP_PERMISSION"] = None
    return CreditsSettings(**values)


@receiver(setting_changed)
def _forget_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == "CREDITS":
        get_settings.cache_clear()
