"""The benchmarks' floors: the cheapest Django proxy for a top-up, and the lean view a cached
balance poll is compared to. Each comes twice, an async view for the site under ASGI (uvicorn)
and a sync one for the site under WSGI, where an async view would start an event loop for
every request (so neither floor pays for the other server's way of running a view).

The cheapest proxy (``proxy_topup``, ``proxy_topup_sync``): behind log-in (401 for an anonymous
caller) and Django's CSRF check (CsrfViewMiddleware runs it: these views are not csrf_exempt),
it forwards the request body, and the Idempotency-Key if one is given, to the landing's
``/api/reef/topup-credits`` with the bearer token, over one pooled httpx client (async: one per
event loop, so one per worker process under ASGI; sync: one per process, shared by its
threads), and returns the landing's JSON as it came. Nothing else: no audit row, no
idempotency claim, no limits, no outcome mapping, no deadline beyond httpx's timeout.

The lean view (``lean``, ``lean_sync``): the session's log-in check (401 for an anonymous
caller) and one cache read, of the key where credits keeps the balance, answered as JSON
(``{}`` when the cache holds none). What ``GET /ui/api/credits`` does with a cached balance,
and nothing else.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse, JsonResponse

from credits.balance import CACHE_KEY
from credits.conf import get_settings

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
