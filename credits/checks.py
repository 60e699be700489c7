"""System checks: a missing token, a landing not on https, amounts that cannot work, a
top-up permission that cannot exist."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, router

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


def _topup_permission() -> object:
    try:
        return get_settings().TOPUP_PERMISSION
    except (ImproperlyConfigured, TypeError):
        return None  # reported by check_settings


def _parts(permission: object) -> tuple[str, str] | None:
    """``(app_label, codename)`` of a well-formed permission name, else None."""
    if not isinstance(permission, str):
        return None
    app_label, dot, codename = permission.partition(".")
    return (app_label, codename) if app_label and dot and codename and "." not in codename else None


def _declared_codenames(app_label: str) -> set[str]:
    """The codenames the installed models of ``app_label`` declare (Meta.permissions and the
    default add/change/delete/view): what ``migrate`` creates, known without the database."""
    try:
        config = apps.get_app_config(app_label)
    except LookupError:
        return set()
    codenames: set[str] = set()
    for model in config.get_models():
        opts = model._meta
        codenames.update(f"{action}_{opts.model_name}" for action in opts.default_permissions)
        codenames.update(codename for codename, _name in opts.permissions)
    return codenames


@register()
def check_topup_permission(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """CREDITS['TOPUP_PERMISSION'], when set, must look like "app_label.codename": any other
    name is held by nobody but superusers, so everyone else would be refused."""
    permission = _topup_permission()
    if permission is None or _parts(permission) is not None:
        return []
    return [
        Warning(
            f"CREDITS['TOPUP_PERMISSION'] ({permission!r}) is not a permission name of the form "
            "'app_label.codename', so only superusers may add credits.",
            hint="Use a permission such as 'credits.top_up' (reef_site reads it from CREDITS_TOPUP_PERMISSION), "
            "or leave it unset to let every logged-in user add credits.",
            id="credits.W004",
        )
    ]


@register(Tags.database)
def check_topup_permission_exists(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The permission named by CREDITS['TOPUP_PERMISSION'] exists: declared by an installed
    model (known before ``migrate`` creates it) or found in the database. Only with the
    database checks (``check --database default``, ``migrate``)."""
    from django.contrib.auth.models import Permission

    permission = _topup_permission()
    parts = _parts(permission)
    if not databases or parts is None:
        return []  # no database to ask, nothing set, or reported by check_topup_permission
    app_label, codename = parts
    if codename in _declared_codenames(app_label):
        return []
    alias = router.db_for_read(Permission)
    if alias not in databases:
        return []
    try:
        exists = Permission.objects.using(alias).filter(content_type__app_label=app_label, codename=codename).exists()
    except DatabaseError:
        return []  # no tables yet: the first migrate
    if exists:
        return []
    return [
        Warning(
            f"CREDITS['TOPUP_PERMISSION'] names the permission {permission!r}, which does not exist, "
            "so only superusers may add credits.",
            hint="Check the spelling (the app defines 'credits.top_up'), or create the permission.",
            id="credits.W005",
        )
    ]


MAIL_NOWHERE = {
    "django.core.mail.backends.console.EmailBackend": "the console",
    "django.core.mail.backends.dummy.EmailBackend": "nowhere (the dummy backend)",
    "django.core.mail.backends.locmem.EmailBackend": "memory (the test backend)",
    "django.core.mail.backends.filebased.EmailBackend": "files on the server",
}


@register()
def check_alerts(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The notices (credits.alerts): a webhook nobody can verify, or alert mail that goes nowhere."""
    try:
        conf = get_settings()
    except ImproperlyConfigured:
        return []  # reported by check_settings
    messages: list[CheckMessage] = []
    if conf.ALERT_WEBHOOK_URL and not conf.ALERT_WEBHOOK_SECRET:
        messages.append(
            Warning(
                "CREDITS['ALERT_WEBHOOK_URL'] is set without CREDITS['ALERT_WEBHOOK_SECRET'], so the "
                "receiver cannot tell the site's notices from anyone else's.",
                hint="Set a long random secret (reef_site: CREDITS_ALERT_WEBHOOK_SECRET) and verify the "
                "X-Reef-Signature-256 header.",
                id="credits.W006",
            )
        )
    where = MAIL_NOWHERE.get(getattr(settings, "EMAIL_BACKEND", ""))
    if conf.ALERT_EMAILS and where and not settings.DEBUG:
        messages.append(
            Warning(
                f"CREDITS['ALERT_EMAILS'] is set, but email goes to {where}, so nobody receives the notices.",
                hint="Set up mail (reef_site: EMAIL_URL, such as smtp+tls://user:password@host:587).",
                id="credits.W007",
            )
        )
    return messages
