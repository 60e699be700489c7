"""System checks: a missing token, a landing not on https, amounts that cannot work."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .conf import get_settings

LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


@register(Tags.security, deploy=True)
def check_token(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        conf = get_settings()
    except ImproperlyConfigured:
        return []  # reported by check_settings
    if conf.AUTH_TOKEN:
        return []
    return [
        Warning(
            "CREDITS['AUTH_TOKEN'] is not set, so every top-up answers 503 not_configured.",
            hint="Set the landing's bearer token (reef_site reads it from VERS_AUTH_TOKEN).",
            id="credits.W001",
        )
    ]


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        conf = get_settings()
    except (ImproperlyConfigured, TypeError) as exc:
        return [Error(f"settings.CREDITS is not valid: {exc}", id="credits.E001")]
    messages: list[CheckMessage] = []
    low, high = conf.MIN_AMOUNT_CENTS, conf.MAX_AMOUNT_CENTS
    if not (
        isinstance(low, int) and isinstance(high, int) and 100 <= low <= high and low % 100 == 0 and high % 100 == 0
    ):
        messages.append(
            Error(
                "CREDITS['MIN_AMOUNT_CENTS'] and ['MAX_AMOUNT_CENTS'] must be whole dollars in cents, "
                f"at least 100, with the minimum not above the maximum (they are {low!r} and {high!r}).",
                id="credits.E002",
            )
        )
    else:
        outside = [
            c for c in conf.PRESET_AMOUNTS_CENTS if not (isinstance(c, int) and low <= c <= high and c % 100 == 0)
        ]
        if outside:
            messages.append(
                Error(
                    f"CREDITS['PRESET_AMOUNTS_CENTS'] has amounts the rules refuse: {outside!r}.",
                    hint=f"Use whole dollars in cents from {low} to {high}.",
                    id="credits.E003",
                )
            )
    host = urlsplit(conf.landing_url).hostname or ""
    if conf.landing_url.startswith("http://") and host not in LOOPBACK and not settings.DEBUG:
        messages.append(
            Warning(
                f"CREDITS['LANDING_URL'] ({conf.landing_url}) is not https while DEBUG is off: "
                "the bearer token would cross the network in clear text.",
                hint="Use the landing's https:// address.",
                id="credits.W002",
            )
        )
    return messages


@register()
def check_task_backend(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    from .tasks import settle_topup

    try:
        backend = settle_topup.get_backend()
    except Exception as exc:
        return [Error(f"The task backend for credits' settlement cannot be loaded: {exc}", id="credits.E004")]
    if backend.supports_defer:
        return []
    return [
        Warning(
            f"The task backend {type(backend).__name__} cannot run a task later, so top-ups whose outcome "
            "was not known are settled only by `manage.py settle_topups` and by the user's next top-up.",
            hint="Use a backend that supports run_after, such as django_tasks_db.DatabaseBackend "
            "(`python manage.py db_worker`), or run settle_topups from cron every minute.",
            id="credits.W003",
        )
    ]
