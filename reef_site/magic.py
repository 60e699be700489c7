"""Log-in by single-use link, the way reef does it.

``POST /auth/magic-link`` with ``Authorization: Bearer <VERS_AUTH_TOKEN>`` and
``{"username": "..."}`` answers ``{"url": ..., "expiresAt": ...}``: a link that logs that
user in once, within ``MAGIC_LINKS["SECONDS"]`` (10 minutes). Only a hash of the
link's secret is stored, so the database alone cannot log anyone in. A new link ends the
user's older unused ones (this endpoint's, the ``magic_link`` command's), so only the latest
link someone was given works.

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

A link that cannot log in (unknown, used, expired or ended), opened or pressed, is a failed
log-in for django-axes too, counted twice: per client address (``LINK_CALLER``) and per link
from any address (a name made from its hash, which :func:`lockout_parameters` counts without
the address). Past ``AXES_FAILURE_LIMIT`` either is answered 429 with ``Retry-After``, before
the secret is looked up: nothing is spent and nothing tells a good link from a bad one.

Every lockout's ``Retry-After`` (and the minutes its page gives) is the time that actually
remains, from the times of the failures axes recorded, not the whole cool-off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from axes.handlers.proxy import AxesProxyHandler  # type: ignore[import-untyped]
from axes.helpers import get_cool_off, get_failure_limit  # type: ignore[import-untyped]
from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from .conf import get_settings
from .logfilters import redact
from .models import MagicLink

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 4096
BEARER = "Bearer "

# The "username" under which django-axes counts wrong bearer tokens. Locking out by username
# and address together, axes then counts them per client address, apart from every password
# log-in. No real username looks like this (Django's allow no spaces or brackets).
BEARER_CALLER = "[bearer token for /auth/magic-link]"

# The "usernames" under which django-axes counts links that could not log in: one per client
# address (with the address, as every other), and one per link (LINK_PREFIX and the start of
# its hash, counted by the link alone: see lockout_parameters).
LINK_CALLER = "[log-in link]"
LINK_PREFIX = "[log-in link #"

# How axes counts every other failed log-in: a username and a client address together, so one
# address cannot lock a user out everywhere (settings.AXES_LOCKOUT_PARAMETERS names
# lockout_parameters, which adds the per-link count).
BY_USERNAME_AND_ADDRESS: list[str | list[str]] = [["username", "ip_address"]]


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
    """A new link for ``user``: (its path, when it expires). It ends the user's older unused
    links (they expire now: a link that was handed out and replaced should not still work), and
    clears the ones already used or expired.

    ValueError if the user may not log in by link (``refusal``)."""
    reason = refusal(user)
    if reason is not None:
        raise ValueError(f"No log-in link for {user.get_username()!r}: {reason}.")
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        # The user's row, locked: of two links asked for at once, only the later one works.
        model = get_user_model()
        model._default_manager.select_for_update().only("pk").get(pk=user.pk)
        now = timezone.now()
        links = MagicLink.objects.filter(user=user)
        links.filter(Q(used_at__isnull=False) | Q(expires_at__lte=now)).delete()
        ended = links.filter(used_at__isnull=True).update(expires_at=now)
        expires_at = now + timedelta(seconds=get_settings().SECONDS)
        MagicLink.objects.create(user=user, secret_hash=_hash(secret), expires_at=expires_at)
    if ended:
        logger.info("magic link: a new link for %r ends %d older unused one(s)", user.get_username(), ended)
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
    link = _usable(secret).select_related("user").first()
    # The update is the claim: of two requests with the same link, only one wins it, and not
    # after a newer link (or its time) ended it.
    if link is None or not _usable(secret).filter(pk=link.pk).update(used_at=timezone.now()):
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


def lockout_parameters(request_or_attempt: Any, credentials: Mapping[str, Any] | None = None) -> list[str | list[str]]:
    """``settings.AXES_LOCKOUT_PARAMETERS``: what django-axes counts failures by. A username and
    a client address together, except a log-in link's own count, by the link alone (from any
    address)."""
    username = (credentials or {}).get("username", getattr(request_or_attempt, "username", None))
    if isinstance(username, str) and username.startswith(LINK_PREFIX):
        return ["username"]
    return BY_USERNAME_AND_ADDRESS


def _link_credentials(secret: str) -> list[dict[str, str]]:
    """What axes counts a link that cannot log in under: the client address, and the link."""
    credentials = [{"username": LINK_CALLER}]
    if secret:
        credentials.append({"username": f"{LINK_PREFIX}{_hash(secret)[:16]}]"})
    return credentials


def _lockout_ends(request: HttpRequest, credentials: Mapping[str, Any] | None, cool_off: timedelta) -> datetime | None:
    """When the lockout of ``credentials`` for this request's client ends, from the times of the
    failures django-axes recorded: the lockout lasts while the newest failures that reach the
    limit are within the cool-off. None when they are not locked out."""
    AxesProxyHandler.update_request(request)
    handler = AxesProxyHandler.get_implementation()
    attempts_of = getattr(handler, "get_user_attempts", None)
    if attempts_of is None:  # a handler that keeps no times (axes' cache handler): the whole cool-off
        return timezone.now() + cool_off
    limit = get_failure_limit(request, credentials)
    ends: datetime | None = None
    for attempts in attempts_of(request, credentials):
        failures = 0
        for attempt_time, count in attempts.order_by("-attempt_time").values_list(
            "attempt_time", "failures_since_start"
        ):
            failures += count
            if failures >= limit:
                end: datetime = attempt_time + cool_off
                ends = end if ends is None else max(ends, end)
                break
    return ends


def retry_after(request: HttpRequest, credentials: Iterable[Mapping[str, Any] | None]) -> int | None:
    """Whole seconds until every lockout of ``credentials`` for this request's client has ended
    (at least 1); None when a lockout lasts until an administrator ends it (no cool-off)."""
    cool_off: timedelta | None = get_cool_off(request)
    if not cool_off:
        return None
    ends = [end for given in credentials if (end := _lockout_ends(request, given, cool_off)) is not None]
    if not ends:  # no recorded failures lock it out (any more): the whole cool-off, to be safe
        return math.ceil(cool_off.total_seconds())
    return max(1, math.ceil((max(ends) - timezone.now()).total_seconds()))


def _view_name(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return str(match.view_name) if match is not None else ""


def _link_secret(request: HttpRequest) -> str:
    """The secret a request for a link's page or its "Log in" button carries ("" for none)."""
    if request.method == "POST":
        return str(request.POST.get("secret", ""))
    match = getattr(request, "resolver_match", None)
    return str(match.kwargs.get("secret", "")) if match is not None else ""


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """django-axes' answer to a locked-out client (``settings.AXES_LOCKOUT_CALLABLE``): JSON 429
    ``rate_limited`` on the bearer endpoint, a page saying so on a log-in link's pages, the
    log-in page with a sentence anywhere else; ``Retry-After`` is the time that remains.

    (axes passes its arguments differently from sync and async middleware, so what locked the
    client out is taken from the request, where axes' handler leaves it.)
    """
    view = _view_name(request)
    if view == "magic:create":
        seconds = retry_after(request, [{"username": BEARER_CALLER}])
        response: HttpResponse = _error(
            429, "rate_limited", _("Too many failed attempts from this address. Try again later.")
        )
    elif view in ("magic:login", "magic:log-in"):
        seconds = retry_after(request, _link_credentials(_link_secret(request)))
        context = {"minutes": math.ceil(seconds / 60) if seconds else None}
        response = _no_referrer(render(request, "registration/magic_link_throttled.html", context, status=429))
    else:
        given = getattr(request, "axes_credentials", None)
        seconds = retry_after(request, [given if isinstance(given, Mapping) else None])
        minutes = math.ceil(seconds / 60) if seconds else None
        context = {"locked_out": True, "cool_off_minutes": minutes}
        response = render(request, "registration/login.html", context, status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    add_never_cache_headers(response)
    return response


def _count_link_failure(request: HttpRequest, secret: str) -> None:
    """Count a link that could not log in, per client address and per link, as failed log-ins
    for django-axes; at the limit its middleware answers :func:`lockout_response` instead."""
    AxesProxyHandler.update_request(request)
    # axes stores and logs the request's path: a link page's carries the secret.
    request.axes_path_info = redact(request.axes_path_info)  # type: ignore[attr-defined]
    for credentials in _link_credentials(secret):
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)


def _link_throttled(request: HttpRequest, secret: str) -> HttpResponse | None:
    """The 429 for a client address or a link locked out after links that could not log in, or
    None. Asked before the secret is looked up: it spends nothing and tells nothing about the link."""
    if all(AxesProxyHandler.is_allowed(request, credentials) for credentials in _link_credentials(secret)):
        return None
    logger.warning("magic link: refused a log-in link at %s, after too many that could not log in", _address(request))
    return lockout_response(request)


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
    throttled = _link_throttled(request, secret)
    if throttled is not None:
        return throttled
    if not is_usable(secret):
        _count_link_failure(request, secret)
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
    throttled = _link_throttled(request, secret)
    if throttled is not None:
        return throttled
    user = redeem(secret) if secret else None
    if user is None:
        _count_link_failure(request, secret)
        return _invalid(request, secret)
    if settings.AXES_RESET_ON_SUCCESS:
        AxesProxyHandler.reset_attempts(ip_address=request.META.get("REMOTE_ADDR"), username=LINK_CALLER)
    login(request, user, backend=_session_backend())
    logger.info("magic link: %r logged in by link", user.get_username())
    return _no_referrer(HttpResponseRedirect(reverse("chat:index")))
