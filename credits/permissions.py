"""Who may add credits, and whom the others should ask (docs/contract.md section 7).

``CREDITS["TOPUP_PERMISSION"]`` unset (the default): every logged-in user may, as in reef.
Set to a permission name such as ``"credits.top_up"``: only users holding it (directly,
through a group, or as an active superuser: Django's own ``has_perm``). Everyone else sees
the balance and :func:`who_to_ask`, and the API and the form answer 403 ``forbidden``.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model, load_backend
from django.core.cache import cache
from django.utils.text import get_text_list
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .conf import get_settings

MAX_NAMES = 3
HOLDERS_CACHE_SECONDS = 60
_CACHE_PREFIX = "credits:topup-holders:"


def may_top_up(user: Any) -> bool:
    """Whether ``user`` may add credits. Costs the permission queries of ``has_perm`` (once
    per request, Django caches them on the user) only when a permission is required."""
    if user is None or not user.is_authenticated:
        return False
    permission = get_settings().TOPUP_PERMISSION
    return permission is None or bool(user.has_perm(permission))


async def amay_top_up(user: Any) -> bool:
    """:func:`may_top_up` for async views: the permission queries do not block the event loop."""
    if user is None or not user.is_authenticated:
        return False
    permission = get_settings().TOPUP_PERMISSION
    return permission is None or bool(await user.ahas_perm(permission))


def holders(permission: str) -> Any:
    """Active users holding ``permission`` (directly, by a group, or as superusers), those who
    hold it outright first, as the first authentication backend that can list them says; None
    when none can (or the name is not ``app_label.codename``: the system check says so)."""
    for path in settings.AUTHENTICATION_BACKENDS:
        backend = load_backend(path)
        if hasattr(backend, "with_perm"):
            try:
                users = backend.with_perm(permission, is_active=True, include_superusers=True)
            except (ValueError, TypeError):
                return None
            return users.order_by("is_superuser", users.model.USERNAME_FIELD)
    return None


def people_to_tell() -> list[str]:
    """The addresses of those who may add credits, for the notices (:mod:`credits.alerts`):
    the holders of ``CREDITS["TOPUP_PERMISSION"]``, or, where none is set, the active staff
    users; only those with an address."""
    model = get_user_model()
    permission = get_settings().TOPUP_PERMISSION
    users = model._default_manager.filter(is_staff=True, is_active=True) if permission is None else holders(permission)
    if users is None:
        return []
    field = model.get_email_field_name()
    return [str(address) for address in users.values_list(field, flat=True) if address]


def _name(user: Any) -> str:
    full_name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return str(full_name or user.get_username())


def _sentence(names: list[Any]) -> str:
    conf = get_settings()
    if conf.TOPUP_CONTACT:
        return conf.TOPUP_CONTACT
    if not names:
        return _("Ask your team's administrator to add credits.")
    return _("Ask %(names)s to add credits.") % {"names": get_text_list(names, gettext_lazy("or"))}


def who_to_ask() -> str:
    """The sentence shown to users who may not add credits: ``CREDITS["TOPUP_CONTACT"]`` when
    set, else up to three holders by name ("Ask ada, grace or admin to add credits."). One
    query at most, and none while the names are cached (a minute)."""
    conf = get_settings()
    if conf.TOPUP_CONTACT or conf.TOPUP_PERMISSION is None:
        return _sentence([])
    key = _CACHE_PREFIX + conf.TOPUP_PERMISSION
    names = cache.get(key)
    if names is None:
        users = holders(conf.TOPUP_PERMISSION)
        names = [_name(user) for user in users[:MAX_NAMES]] if users is not None else []
        cache.set(key, names, HOLDERS_CACHE_SECONDS)
    return _sentence(names)


async def awho_to_ask() -> str:
    """:func:`who_to_ask` for async views (only a refusal needs it)."""
    return await sync_to_async(who_to_ask)()


def refusal_sentence(who: str) -> str:
    """What the API and the form say to a user who may not add credits."""
    return _("You may not add credits on this site. %(who_to_ask)s") % {"who_to_ask": who}
