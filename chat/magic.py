"""Log-in by single-use link, the way reef does it.

``POST /auth/magic-link`` with ``Authorization: Bearer <VERS_AUTH_TOKEN>`` and
``{"username": "..."}`` answers ``{"url": ..., "expiresAt": ...}``: a link that logs that
user in once, within ``CHAT["MAGIC_LINK_SECONDS"]`` (10 minutes). Only a hash of the
link's secret is stored, so the database alone cannot log anyone in.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from credits.client import is_server_token

from .conf import get_settings
from .models import MagicLink

MAX_BODY_BYTES = 4096
BEARER = "Bearer "


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_link(user: Any) -> tuple[str, datetime]:
    """A new link for ``user``: (its path, when it expires). Old spent links are cleared."""
    now = timezone.now()
    MagicLink.objects.filter(user=user).filter(Q(used_at__isnull=False) | Q(expires_at__lte=now)).delete()
    secret = secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=get_settings().MAGIC_LINK_SECONDS)
    MagicLink.objects.create(user=user, secret_hash=_hash(secret), expires_at=expires_at)
    return reverse("magic:login", args=[secret]), expires_at


def redeem(secret: str) -> Any | None:
    """The user the link logs in, marking it used; None when unknown, used or expired."""
    now = timezone.now()
    links = MagicLink.objects.filter(secret_hash=_hash(secret), used_at__isnull=True, expires_at__gt=now)
    link = links.select_related("user").first()
    # The update is the claim: of two requests with the same link, only one wins it.
    if link is None or not links.filter(pk=link.pk).update(used_at=now):
        return None
    return link.user if link.user.is_active else None


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": message, "code": code}, status=status)


@csrf_exempt  # a server-to-server call authenticated by the bearer token, not a cookie
@never_cache
def create(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return _error(405, "method_not_allowed", _("Use POST for this address."))
    header = request.headers.get("Authorization", "")
    if not header.startswith(BEARER) or not is_server_token(header[len(BEARER) :].strip()):
        response = _error(401, "unauthorized", _("A valid bearer token is required."))
        response["WWW-Authenticate"] = "Bearer"
        return response
    if len(request.body) > MAX_BODY_BYTES:
        return _error(400, "invalid_json", _("The body is too large."))
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        body = None
    username = body.get("username") if isinstance(body, dict) else None
    if not isinstance(username, str) or not username:
        return _error(400, "invalid_json", _('The body must be a JSON object such as {"username": "ada"}.'))
    user = get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: username}).first()
    if user is None or not user.is_active:
        return _error(404, "unknown_user", _("There is no active user with this username."))
    path, expires_at = create_link(user)
    expires = expires_at.isoformat().replace("+00:00", "Z")
    return JsonResponse({"url": request.build_absolute_uri(path), "expiresAt": expires})


@require_GET
@never_cache
def login_by_link(request: HttpRequest, secret: str) -> HttpResponse:
    user = redeem(secret)
    if user is None:
        response = render(request, "chat/magic_link_invalid.html", status=400)
    else:
        login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
        response = HttpResponseRedirect(reverse("chat:index"))
    response["Referrer-Policy"] = "no-referrer"  # the secret stays out of other sites' logs
    return response
