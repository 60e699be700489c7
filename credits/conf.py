"""The app's settings: one ``CREDITS`` dict, read at call time, with defaults.

Nothing here is read at import, so ``override_settings(CREDITS=...)`` works everywhere: the
parsed settings are kept until Django says a setting changed. :func:`load_settings` is that
loader for any dict of settings over a dataclass of defaults (public: a host site may use it
for its own apps' settings, as reef_site's chat and log-in do).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar, cast

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
    ASYNC_VIEWS: bool = True  # False for a site served by WSGI: the API's sync twins (credits.urls)
    CONFIRM_ABOVE_DOLLARS: int | None = 200  # the pages ask first from this amount on; None: never
    RECENT_TOPUPS: int = 5
    SANDBOX: bool = False
    # Settlement of outcomes that were not known at once (see credits.settlement).
    PENDING_GRACE_SECONDS: float = 30.0  # a pending attempt is settled TIMEOUT + this after its claim
    SETTLE_BACKOFF_SECONDS: float = 10.0  # the first wait between settlement tries, then doubled
    SETTLE_BACKOFF_MAX_SECONDS: float = 3600.0
    SETTLE_SWEEP_SECONDS: float = 10.0  # the background worker looks for attempts due this often
    OPERATOR_AFTER_SECONDS: int = 24 * 60 * 60  # unsettled this long: flagged for an operator
    SAMPLE_MINUTES: float = 5.0  # the background worker samples the balance this often (credits.samples)
    # The warning before the credits run out (credits.alerts): below LOW_BALANCE_DOLLARS or WARN_HOURS.
    WARN_HOURS: float = 6.0  # "running low" when the forecast says fewer hours than this are left
    ALERT_EMAILS: tuple[str, ...] = ()  # also told, beside the people who may add credits
    ALERT_WEBHOOK_URL: str = ""  # a JSON POST with a "text" (Slack-style), signed with the secret
    ALERT_WEBHOOK_SECRET: str = ""  # HMAC-SHA256 of the body, hex, in X-Reef-Signature-256
    ALERT_WEBHOOK_TIMEOUT: float = 5.0  # the whole webhook call, start to end
    ALERT_RETRY_SECONDS: float = 30.0  # the first wait before a failed delivery is tried again, then doubled
    ALERT_TRIES: int = 8  # delivery tries per channel before it is recorded as failed
    SITE_URL: str = ""  # the site's public address, for the links in emails ("https://reef.example.com")
    # Who may add credits (see credits.permissions). None: every logged-in user, as in reef.
    TOPUP_PERMISSION: str | None = None  # a permission name, "app_label.codename", such as "credits.top_up"
    TOPUP_CONTACT: str = ""  # shown to the others, such as "Ask Ada or Grace."; empty: the holders are named

    @property
    def landing_url(self) -> str:
        return self.LANDING_URL.rstrip("/")

    @property
    def confirm_above_cents(self) -> int:
        """From this many cents on the pages ask before sending; 0: never."""
        return max(0, int(self.CONFIRM_ABOVE_DOLLARS or 0) * 100)


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    if "PRESET_AMOUNTS_CENTS" in values:
        values["PRESET_AMOUNTS_CENTS"] = tuple(values["PRESET_AMOUNTS_CENTS"])
    if isinstance(values.get("ALERT_EMAILS"), str):  # "a@x, b@y", as an environment variable says it
        values["ALERT_EMAILS"] = values["ALERT_EMAILS"].split(",")
    if "ALERT_EMAILS" in values:
        values["ALERT_EMAILS"] = tuple(str(a).strip() for a in values["ALERT_EMAILS"] or () if str(a).strip())
    if not values.get("AUTH_TOKEN"):
        values["AUTH_TOKEN"] = None
    if not values.get("TOPUP_PERMISSION"):
        values["TOPUP_PERMISSION"] = None
    return values


def get_settings() -> CreditsSettings:
    """The current ``settings.CREDITS`` over the defaults (parsed once, read many times a request)."""
    return load_settings("CREDITS", CreditsSettings, clean=_clean)


# -- the loader, for the app's settings and for any host's own dict of settings -------------

S = TypeVar("S")

_loaded: dict[tuple[str, type[Any]], Any] = {}


def load_settings(
    setting_name: str,
    defaults: type[S],
    *,
    clean: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    moved: Mapping[str, str] | None = None,
) -> S:
    """``settings.<setting_name>``, a dict, over the defaults of the frozen dataclass ``defaults``.

    Read at call time and kept until Django says that setting changed (``override_settings``
    and the test ``settings`` fixture work). A missing or empty setting means the defaults; a
    value that is not a dict, or a key the dataclass does not have, is ImproperlyConfigured,
    naming the known keys. ``clean`` may normalise the given values (a copy) before the
    dataclass is made; ``moved`` maps a key that no longer belongs here to a sentence saying
    where it went, for that error.
    """
    key = (setting_name, defaults)
    try:
        return cast(S, _loaded[key])
    except KeyError:
        pass
    names = sorted(f.name for f in fields(cast(Any, defaults)))
    given: Any = getattr(django_settings, setting_name, {}) or {}
    if not isinstance(given, dict):
        raise ImproperlyConfigured(
            f"settings.{setting_name} must be a dict, with the key(s) {', '.join(names)} (each optional)."
        )
    unknown = sorted(set(given) - set(names))
    if unknown:
        hints = "".join(f" {moved[name]}" for name in unknown if moved and name in moved)
        raise ImproperlyConfigured(
            f"settings.{setting_name} has unknown key(s) {', '.join(unknown)}; the known keys are "
            f"{', '.join(names)}.{hints}"
        )
    values = dict(given)
    loaded = defaults(**(clean(values) if clean else values))
    _loaded[key] = loaded
    return loaded


@receiver(setting_changed)
def _forget_settings(*, setting: str, **kwargs: Any) -> None:
    for key in [key for key in _loaded if key[0] == setting]:
        _loaded.pop(key, None)
