"""Thin HTTP adapters: log-in, CSRF, body size and JSON in and out. Every answer is JSON."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from . import balance as balances
from . import client
from .amounts import validate_amount_cents
from .claims import is_valid_key
from .models import Source, Status, TopupAttempt
from .outcomes import Answer, error
from .permissions import amay_top_up, awho_to_ask, refusal_sentence
from .topups import arequest_topup

MAX_BODY_BYTES = 4096
BROWSER_SOURCES = (Source.HEADER, Source.INLINE, Source.FORM, Source.API)


def respond(answer: Answer) -> JsonResponse:
    response = JsonResponse(answer.body, status=answer.status)
    for name, value in answer.headers.items():
        response[name] = value
    return response


class _CsrfCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> str:  # type: ignore[override]
        return reason


def _unused_view(request: HttpRequest) -> HttpResponse:
    raise AssertionError("only the CSRF check runs")


def csrf_failure(request: HttpRequest) -> str | None:
    """Why Django's CSRF protection refuses ``request``, or None when it passes."""
    check = _CsrfCheck(_unused_view)
    check.process_request(request)
    reason = check.process_view(request, _unused_view, (), {})
    return reason if isinstance(reason, str) else None


def _refusal(request: HttpRequest, method: str, authenticated: bool, csrf: bool) -> Answer | None:
    if request.method != method:
        return error(405, "method_not_allowed", _("Use %(method)s for this address.") % {"method": method})
    if not authenticated:
        return error(401, "not_authenticated", _("Log in to add credits."))
    if csrf and csrf_failure(request) is not None:
        return error(
            403, "csrf_failed", _("The page's security token is missing or stale. Reload the page and try again.")
        )
    return None


def gate(request: HttpRequest, method: str, *, csrf: bool = False) -> Answer | None:
    """The JSON refusal for a wrong method, an anonymous caller or (with ``csrf``) a failed
    CSRF check, in that order, or None to go on."""
    if request.method != method:
        return _refusal(request, method, True, False)
    return _refusal(request, method, request.user.is_authenticated, csrf)


async def agate(request: HttpRequest, method: str, *, csrf: bool = False) -> Answer | None:
    """:func:`gate` for async views (the user is loaded without blocking the event loop)."""
    if request.method != method:
        return _refusal(request, method, True, False)
    user = await request.auser()
    return _refusal(request, method, user.is_authenticated, csrf)


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise _DuplicateKey(name)
        result[name] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_body(request: HttpRequest) -> dict[str, Any] | Answer:
    """The request's JSON object (at most 4 KiB, by its Content-Length and by what is read),
    or the 400 that says what is wrong with it."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_BODY_BYTES:
        return error(400, "invalid_json", _("The request body is larger than 4 KiB."))
    return parse_body(request.read(MAX_BODY_BYTES + 1))


def parse_body(raw: bytes) -> dict[str, Any] | Answer:
    """The request's JSON object, or the 400 that says what is wrong with it."""
    if len(raw) > MAX_BODY_BYTES:
        return error(400, "invalid_json", _("The request body is larger than 4 KiB."))
    try:
        data = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_object_without_duplicates, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError):
        return error(400, "invalid_json", _('The request body must be a JSON object, such as {"amountCents": 1000}.'))
    if not isinstance(data, dict):
        return error(400, "invalid_json", _('The request body must be a JSON object, such as {"amountCents": 1000}.'))
    return data


@transaction.non_atomic_requests  # the landing call never runs inside the request's transaction
@csrf_exempt  # checked below, after the log-in check, so that each failure gets its JSON answer
@never_cache
async def topup_credits(request: HttpRequest) -> JsonResponse:
    """``POST topup-credits``: async, so waiting on the landing holds no server thread."""
    refused = await agate(request, "POST", csrf=True)
    if refused is not None:
        return respond(refused)
    user = await request.auser()  # loaded by agate already
    if not await amay_top_up(user):  # before the body: nothing is read, recorded or sent
        return respond(error(403, "forbidden", refusal_sentence(await awho_to_ask())))
    data = read_body(request)
    if isinstance(data, Answer):
        return respond(data)
    try:
        amount = validate_amount_cents(data.get("amountCents"))
    except ValidationError as exc:
        return respond(error(400, "invalid_amount", exc.messages[0]))
    source = data.get("source", Source.API)
    if source not in BROWSER_SOURCES:  # "auto" is the background's own, never a browser's
        return respond(
            error(400, "invalid_source", _("source must be one of: %(names)s.") % {"names": ", ".join(BROWSER_SOURCES)})
        )
    key = request.headers.get("Idempotency-Key")
    if key is not None and not is_valid_key(key):
        return respond(
            error(400, "invalid_idempotency_key", _("Idempotency-Key must be 1 to 255 visible ASCII characters."))
        )
    return respond(await arequest_topup(user, amount, key=key, source=source))  # type: ignore[arg-type]


@transaction.non_atomic_requests
@csrf_exempt  # checked below, after the log-in check, as for topup_credits
@never_cache
def topup_seen(request: HttpRequest) -> JsonResponse:
    """``{"attempt": "<id>"}``: the page has shown the user that this attempt, settled in the
    background, succeeded; so the next top-up is not held back to tell them again."""
    refused = gate(request, "POST", csrf=True)
    if refused is not None:
        return respond(refused)
    data = read_body(request)
    if isinstance(data, Answer):
        return respond(data)
    attempt = data.get("attempt")
    try:
        attempt_id = uuid.UUID(attempt) if isinstance(attempt, str) else None
    except ValueError:
        attempt_id = None
    if attempt_id is None:
        return respond(error(400, "invalid_attempt", _("attempt must be the id of one of your top-ups.")))
    owner = request.user.pk
    assert owner is not None  # the gate let only a logged-in user through
    TopupAttempt.objects.filter(pk=attempt_id, user_id=owner, status=Status.SUCCEEDED).update(outcome_shown=True)
    return JsonResponse({"ok": True})


@csrf_exempt  # it changes nothing; exempt, a POST gets its JSON 405 rather than a CSRF 403
@never_cache
async def credits_balance(request: HttpRequest) -> JsonResponse:
    refused = await agate(request, "GET")
    if refused is not None:
        return respond(refused)
    try:
        balance = await balances.aget_balance()
    except client.LandingBusy:
        return respond(error(503, "busy", _("The balance cannot be read right now. Please try again in a moment.")))
    except client.LandingNotConfigured:
        return respond(
            error(503, "not_configured", _("The balance is not available: top-ups are not set up on this site."))
        )
    except balances.BalanceUnavailable:
        return respond(
            error(502, "upstream_unavailable", _("The balance cannot be read from the billing service right now."))
        )
    return JsonResponse(balance)
