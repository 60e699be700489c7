"""The benchmarks' floors: the cheapest Django proxy for a top-up, the same proxy made durable,
and the lean view a cached balance poll is compared to. Each comes twice, an async view for
the site under ASGI (uvicorn) and a sync one for the site under WSGI, where an async view would
start an event loop for every request (so neither floor pays for the other server's way of
running a view).

The cheapest proxy (``proxy_topup``, ``proxy_topup_sync``): behind log-in (401 for an anonymous
caller) and Django's CSRF check (CsrfViewMiddleware runs it: these views are not csrf_exempt),
it forwards the request body, and the Idempotency-Key if one is given, to the landing's
``/api/reef/topup-credits`` with the bearer token, over one pooled httpx client (async: one per
event loop, so one per worker process under ASGI; sync: one per process, shared by its
threads), and returns the landing's JSON as it came. Nothing else: no audit row, no
idempotency claim, no limits, no outcome mapping, no deadline beyond httpx's timeout.

The durable proxy (``durable_topup``, ``durable_topup_sync``): the cheapest proxy plus only
the database work the contract requires of a top-up, the record before the landing call and
the outcome after, with the same round trips as the project's claim and record but none of
their rules. Before the call, in one short transaction: on PostgreSQL the user's row locked
(``select_for_update()``, as credits/claims.py ``_read_locked`` does, in a statement of its
own), then one INSERT of a ``pending`` ``credits.models.TopupAttempt`` (the amount from the
body, the Idempotency-Key, a new upstream key, when settlement would look at it). The landing
is sent the attempt's upstream key, as the project sends it. After the call, outside any
transaction, one conditional UPDATE writing the outcome, as ``credits.settlement.record`` does
(``filter(pk=..., status__in=UNSETTLED).update(...)``): ``succeeded`` for a 2xx answer, else
``unknown`` (for settlement to find out), with the landing's answer kept for a replay. Under
ASGI each of the two steps is one trip to the request's thread (``sync_to_async``), as in
``credits.topups.arequest_topup``. Nothing else: no read of the user's earlier attempts (the
limits, replays, the one-in-flight and settle-first rules), no validation beyond reading the
amount, no outcome table, no cached balance, no signals, no log line, and the connection is
not given back to the pool during the landing call.

The lean view (``lean``, ``lean_sync``): the session's log-in check (401 for an anonymous
caller) and one cache read, of the key where credits keeps the balance, answered as JSON
(``{}`` when the cache holds none). What ``GET /ui/api/credits`` does with a cached balance,
and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from datetime import timedelta
from typing import Any

import httpx
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from credits.balance import CACHE_KEY
from credits.codes import UNSETTLED, Status
from credits.conf import get_settings
from credits.models import TopupAttempt
from credits.wire import new_upstream_key

_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
_sync_client: httpx.Client | None = None
_sync_client_lock = threading.Lock()


def _client_options() -> dict[str, Any]:
    """The landing client's options (the same limits as credits.client)."""
    conf = get_settings()
    return {
        "base_url": conf.landing_url,
        "headers": {
            "Authorization": f"Bearer {conf.AUTH_TOKEN}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
        "timeout": conf.TIMEOUT,
        "limits": httpx.Limits(max_connections=conf.MAX_LANDING_CALLS, max_keepalive_connections=20),
        "follow_redirects": False,
        "trust_env": False,
    }


def _client() -> httpx.AsyncClient:
    """The running loop's pooled client, made on first use."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = httpx.AsyncClient(**_client_options())
        _clients[loop] = client
    return client


def _client_sync() -> httpx.Client:
    """The process's pooled client, made on first use."""
    global _sync_client
    with _sync_client_lock:
        if _sync_client is None:
            _sync_client = httpx.Client(**_client_options())
        return _sync_client


def _not_post() -> JsonResponse:
    return JsonResponse({"error": "Use POST.", "code": "method_not_allowed"}, status=405)


def _anonymous() -> JsonResponse:
    return JsonResponse({"error": "Log in first.", "code": "not_authenticated"}, status=401)


def _forwarded_key(request: HttpRequest) -> dict[str, str] | None:
    key = request.headers.get("Idempotency-Key")
    return {"Idempotency-Key": key} if key else None


def _landing_answer(answer: httpx.Response) -> HttpResponse:
    return HttpResponse(answer.content, status=answer.status_code, content_type="application/json")


async def proxy_topup(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _not_post()
    user = await request.auser()
    if not user.is_authenticated:
        return _anonymous()
    answer = await _client().post("/api/reef/topup-credits", content=request.body, headers=_forwarded_key(request))
    return _landing_answer(answer)


def proxy_topup_sync(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _not_post()
    if not request.user.is_authenticated:
        return _anonymous()
    answer = _client_sync().post("/api/reef/topup-credits", content=request.body, headers=_forwarded_key(request))
    return _landing_answer(answer)


def _record_before(user_pk: Any, request: HttpRequest) -> TopupAttempt:
    """The durable record before the landing call: the user's row locked (PostgreSQL), the
    pending attempt written, in one short transaction."""
    conf = get_settings()
    amount_cents = int(json.loads(request.body)["amountCents"])
    with transaction.atomic():
        if connection.features.has_select_for_update:
            get_user_model().objects.select_for_update().filter(pk=user_pk).values_list("pk").first()
        return TopupAttempt.objects.create(
            user_id=user_pk,
            amount_cents=amount_cents,
            idempotency_key=request.headers.get("Idempotency-Key") or uuid.uuid4().hex,
            upstream_key=new_upstream_key(),
            settle_at=timezone.now() + timedelta(seconds=conf.TIMEOUT + conf.PENDING_GRACE_SECONDS),
        )


def _record_after(attempt: TopupAttempt, answer: httpx.Response) -> None:
    """The outcome written onto the attempt, unless something else settled it first."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    TopupAttempt.objects.filter(pk=attempt.pk, status__in=UNSETTLED).update(
        status=Status.SUCCEEDED if answer.is_success else Status.UNKNOWN,
        landing_status=answer.status_code,
        response_status=answer.status_code,
        response_body=body,
        finished_at=timezone.now(),
        settle_at=None if answer.is_success else attempt.settle_at,
    )


def _upstream_key(attempt: TopupAttempt) -> dict[str, str]:
    return {"Idempotency-Key": attempt.upstream_key}


async def durable_topup(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _not_post()
    user = await request.auser()
    if not user.is_authenticated:
        return _anonymous()
    attempt = await sync_to_async(_record_before)(user.pk, request)
    answer = await _client().post("/api/reef/topup-credits", content=request.body, headers=_upstream_key(attempt))
    await sync_to_async(_record_after)(attempt, answer)
    return _landing_answer(answer)


def durable_topup_sync(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _not_post()
    if not request.user.is_authenticated:
        return _anonymous()
    attempt = _record_before(request.user.pk, request)
    answer = _client_sync().post("/api/reef/topup-credits", content=request.body, headers=_upstream_key(attempt))
    _record_after(attempt, answer)
    return _landing_answer(answer)


async def lean(request: HttpRequest) -> JsonResponse:
    user = await request.auser()
    if not user.is_authenticated:
        return _anonymous()
    cached = await caches[get_settings().BALANCE_CACHE_ALIAS].aget(CACHE_KEY)
    return JsonResponse(cached or {})


def lean_sync(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return _anonymous()
    cached = caches[get_settings().BALANCE_CACHE_ALIAS].get(CACHE_KEY)
    return JsonResponse(cached or {})
