"""The cheapest Django proxy for a top-up: the floor the project's route is measured against.

Behind log-in (401 for an anonymous caller) and Django's CSRF check (CsrfViewMiddleware runs
it: this view is not csrf_exempt), it forwards the request body, and the Idempotency-Key if
one is given, to the landing's ``/api/reef/topup-credits`` with the bearer token, over one
pooled ``httpx.AsyncClient`` per event loop (one per worker process), and returns the
landing's JSON as it came. Nothing else: no audit row, no idempotency claim, no limits, no
outcome mapping, no deadline beyond httpx's timeout.
"""

from __future__ import annotations

import asyncio

import httpx
from django.http import HttpRequest, HttpResponse, JsonResponse

from credits.conf import get_settings

_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}


def _client() -> httpx.AsyncClient:
    """The running loop's pooled client, made on first use (the same limits as credits.client)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        conf = get_settings()
        client = httpx.AsyncClient(
            base_url=conf.landing_url,
            headers={
                "Authorization": f"Bearer {conf.AUTH_TOKEN}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            timeout=conf.TIMEOUT,
            limits=httpx.Limits(max_connections=conf.MAX_LANDING_CALLS, max_keepalive_connections=20),
            follow_redirects=False,
            trust_env=False,
        )
        _clients[loop] = client
    return client


async def proxy_topup(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return JsonResponse({"error": "Use POST.", "code": "method_not_allowed"}, status=405)
    user = await request.auser()
    if not user.is_authenticated:
        return JsonResponse({"error": "Log in to add credits.", "code": "not_authenticated"}, status=401)
    key = request.headers.get("Idempotency-Key")
    headers = {"Idempotency-Key": key} if key else None
    answer = await _client().post("/api/reef/topup-credits", content=request.body, headers=headers)
    return HttpResponse(answer.content, status=answer.status_code, content_type="application/json")
