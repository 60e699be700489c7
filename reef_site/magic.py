"""Log-in by single-use link, the way reef does it.

``POST /auth/magic-link`` with ``Authorization: Bearer <VERS_AUTH_TOKEN>`` and
``{"username": "..."}`` answers ``{"url": ..., "expiresAt": ...}``: a link that logs that
user in once, within ``MAGIC_LINKS["SECONDS"]`` (10 minutes). Only a hash of the
link's secret is stored, so the database alone cannot log anyone in.

Links are only for active users who are neither staff nor superusers (unless
``MAGIC_LINKS["FOR_STAFF"]`` is on): those log in with a password. A refused user is
answered like an unknown one (404 ``unknown_user``); the log says why.

Opening a link (GET) logs nobody in and spends nothing: it shows a page whose "Log in"
button posts the secret, in the body and with the CSRF token, to ``/auth/log-in-by-link``,
which spends the link and logs in. So a link preview (a chat app, a mail scanner) cannot use
it up, and the secret is in one request line only, the GET's, which reef_site.logfilters
redacts from the server's logs (a reverse proxy in front must not log ``/auth/magic-link/``).

The bearer token is the site's own, the one it sends to the landing (``VERS_AUTH_TOKEN``,
``settings.CREDITS["AUTH_TOKEN"]``): whoever may spend the team's credits may ask for a link.

Wrong or missing bearer tokens count as failed log-ins for django-axes, per client address
(under the username ``BEARER_CALLER``): past ``AXES_FAILURE_LIMIT`` the address is answered
429 ``rate_limited`` with ``Retry-After`` until ``AXES_COOLOFF_TIME`` has passed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import secrets
from datetime import datetime, timedelta
from typing import Any

from axes.handlers.proxy import AxesProxyHandler  # type: ignore[import-untyped]
from axes.helpers import get_cool_off  # type: ignore[import-untyped]
from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from .conf import get_settings
from .models import MagicLink

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 4096
BEARER = "Bearer "

# The "username" under which django-axes counts wrong bearer tokens. Locking out by username
# and address together, axes then counts them per client address, apart from every password
# log-in. No real username looks like this (Django's allow no spaces or brackets).
BEARER_CALLER = "[bearer token for /auth/magic-link]"


def is_server_token(value: str | None) -> bool:
    """Whether ``value`` is the site's token (compared in constant time); False when none is set."""
    token = (getattr(settings, "CREDITS", None) or {}).get("AUTH_TOKEN")
    return bool(token and value) and hmac.compare_digest(str(value).encode(), str(token).encode())


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def refusal(user: Any) -> str | None:
    """Why ``user`` may not log in by link (for the log and the commands), or None if it may."""
    if not user.is_active:
        return "the account is inactive"
    if (user.is_staff or user.is_superuser) and not get_settings().FOR_STAFF:
        return "staff and superusers log in with a password (MAGIC_LINKS['FOR_STAFF'] is off)"
    return None


def create_link(user: Any) -> tuple[str, datetime]:
    """A new link for ``user``: (its path, when it expires). Old spent links are cleared.

    ValueError if the user may not log in by link (``refusal``)."""
    reason = refusal(user)
    if reason is not None:
        raise ValueError(f"No log-in link for {user.get_username()!r}: {reason}.")
    now = timezone.now()
    MagicLink.objects.filter(user=user).filter(Q(used_at__isnull=False) | Q(expires_at__lte=now)).delete()
    secret = secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=get_settings().SECONDS)
    MagicLink.objects.create(user=user, secret_hash=_hash(secret), expires_at=expires_at)
    return reverse("magic:login", args=[secret]), expires_at


def _usable(secret: str) -> Any:
    now = timezone.now()
    return MagicLink.objects.filter(secret_hash=_hash(secret), used_at__isnull=True, expires_at__gt=now)


def is_usable(secret: str) -> bool:
    """Whether the link would log someone in now; asking spends nothing."""
    link = _usable(secret).select_related("user").first()
    return link is not None and refusal(link.user) is None


def redeem(secret: str) -> Any | None:
    """The user the link logs in, marking it used; None when unknown, used or expired, or
    when its user may no longer log in by link (deactivated, made staff)."""
    links = _usable(secret)
    link = links.select_related("user").first()
    # The update is the claim: of two requests with the same link, only one wins it.
    if link is None or not links.filter(pk=link.pk).update(used_at=timezone.now()):
        return None
    reason = refusal(link.user)
    if reason is not None:
        logger.warning("magic link: refused to log in %r by link: %s", link.user.get_username(), reason)
        return None
    return link.user


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": message, "code": code}, status=status)


def _address(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR") or "an unknown address")


def _cool_off_seconds(request: HttpRequest) -> int | None:
    cool_off: timedelta | None = get_cool_off(request)
    return math.ceil(cool_off.total_seconds()) if cool_off else None


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """django-axes' answer to a locked-out client (``settings.AXES_LOCKOUT_CALLABLE``): JSON 429
    ``rate_limited`` on the bearer endpoint, the log-in page with a sentence anywhere else.

    (axes passes its arguments differently from sync and async middleware: only the request is used.)
    """
    seconds = _cool_off_seconds(request)
    if request.path == reverse("magic:create"):
        response: HttpResponse = _error(
            429, "rate_limited", _("Too many failed attempts from this address. Try again later.")
        )
    else:
        minutes = math.ceil(seconds / 60) if seconds else None
        context = {"locked_out": True, "cool_off_minutes": minutes}
        response = render(request, "registration/login.html", context, status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


@csrf_exempt  # a server-to-server call authenticated by the bearer token, not a cookie
@never_cache
def create(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _error(405, "method_not_allowed", _("Use POST for this address."))
    credentials = {"username": BEARER_CALLER}  # what axes counts; never the token itself
    if not AxesProxyHandler.is_allowed(request, credentials):
        logger.warning("magic link: refused a bearer caller at %s, locked out after wrong tokens", _address(request))
        return lockout_response(request)
    header = request.headers.get("Authorization", "")
    if not header.startswith(BEARER) or not is_server_token(header[len(BEARER) :].strip()):
        given = "a wrong" if header.startswith(BEARER) and header[len(BEARER) :].strip() else "no"
        logger.warning("magic link: %s bearer token from %s", given, _address(request))
        # django-axes counts the failure; at the limit its middleware answers lockout_response.
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        response = _error(401, "unauthorized", _("A valid bearer token is required."))
        response["WWW-Authenticate"] = "Bearer"
        return response
    if settings.AXES_RESET_ON_SUCCESS:
        AxesProxyHandler.reset_attempts(ip_address=request.META.get("REMOTE_ADDR"), username=BEARER_CALLER)
    if len(request.body) > MAX_BODY_BYTES:
        return _error(400, "invalid_json", _("The body is too large."))
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        body = None
    username = body.get("username") if isinstance(body, dict) else None
    if not isinstance(username, str) or not username:
        return _error(400, "invalid_json", _('The body must be a JSON object such as {"username": "ada"}.'))
    model = get_user_model()
    user = model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()
    reason = "there is no such user" if user is None else refusal(user)
    if reason is not None:
        # The same answer for every refusal, so the endpoint does not tell which accounts exist.
        logger.warning("magic link: no link for %r: %s", username, reason)
        return _error(404, "unknown_user", _("There is no active user with this username."))
    path, expires_at = create_link(user)
    logger.info("magic link: a link for %r, valid until %s", username, expires_at.isoformat())
    expires = expires_at.isoformat().replace("+00:00", "Z")
    return JsonResponse({"url": request.build_absolute_uri(path), "expiresAt": expires})


class _Masked(str):
    """A secret for a template: renders as itself, but its repr hides it (at DEBUG, Django's
    template engine logs a page's whole context when a variable is missing)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'[redacted]'"


def _no_referrer(response: HttpResponse) -> HttpResponse:
    response["Referrer-Policy"] = (
        "same-origin"  # the secret stays out of other sites' logs; our own POST keeps its Origin (CSRF)
    )
    return response


def _minutes() -> int:
    return max(1, get_settings().SECONDS // 60)


def _invalid(request: HttpRequest, secret: str = "") -> HttpResponse:
    """The page for a link that cannot log in. It offers the password form only when the link
    was made for a user who has a password: most people log in by link alone (the demo user
    has no password), and a mistyped link names nobody."""
    link = MagicLink.objects.filter(secret_hash=_hash(secret)).select_related("user").first() if secret else None
    has_password = link is not None and link.user.has_usable_password()
    context = {"has_password": has_password, "minutes": _minutes()}
    return _no_referrer(render(request, "registration/magic_link_invalid.html", context, status=400))


@require_safe
@never_cache
def login_by_link(request: HttpRequest, secret: str) -> HttpResponse:
    """The page a link opens: a "Log in" button. Nothing is spent and nobody is logged in
    here, so a link preview that fetches the page leaves the link as it was."""
    if not is_usable(secret):
        return _invalid(request, secret)
    context = {"secret": _Masked(secret), "minutes": _minutes()}
    return _no_referrer(render(request, "registration/magic_link_login.html", context))


def _session_backend() -> str:
    """The first backend that can load the user back from the session (axes' own only watches)."""
    for path in settings.AUTHENTICATION_BACKENDS:
        if hasattr(import_string(path), "get_user"):
            return path
    raise ImproperlyConfigured("No backend in AUTHENTICATION_BACKENDS can load a user (such as ModelBackend).")


@require_POST
@never_cache
def log_in(request: HttpRequest) -> HttpResponse:
    """The "Log in" button: spends the link (once, before it expires) and logs its user in."""
    secret = request.POST.get("secret", "")
    user = redeem(secret) if secret else None
    if user is None:
        return _invalid(request, secret)
    login(request, user, backend=_session_backend())
    logger.info("magic link: %r logged in by link", user.get_username())
    return _no_referrer(HttpResponseRedirect(reverse("chat:index")))
