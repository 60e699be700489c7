"""The landing (the billing service) over HTTP.

This is the only module that sees the bearer token. Every call has one pooled
``httpx.AsyncClient`` per event loop and configuration, and:

* a **total deadline** (connecting, sending, waiting and reading the body together:
  ``TIMEOUT`` for a top-up, ``BALANCE_TIMEOUT`` for the balance), which a landing that
  drips one byte at a time cannot stretch;
* async views ``await`` the call on their own event loop (:func:`atopup`, :func:`acredits`)
  and hold no thread while the landing thinks; sync callers (the worker, the admin, forms)
  block on the same call, run on one event loop per process (a daemon thread);
* at most ``MAX_LANDING_CALLS`` calls are in flight per process: past that a call fails at
  once with :class:`LandingBusy` instead of queueing the site behind a slow landing.

Redirects are never followed. Tests and host sites inject a transport with
:func:`credits.testing.override_transport` (``httpx.MockTransport`` works).

Public (for host sites): :func:`redact`, and the exceptions the balance functions of
``credits.balance`` may raise besides ``BalanceUnavailable``: :class:`LandingNotConfigured`
and :class:`LandingBusy` (both :class:`LandingError`). Everything else here is the app's own.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import httpx

from . import __version__
from .conf import CreditsSettings, get_settings
from .exceptions import (
    LandingBusy,
    LandingError,
    LandingNoAnswer,
    LandingNotConfigured,
    LandingTimeout,
    LandingUnreachable,
)
from .wire import REDACTED, LandingResponse, redact_token

__all__ = [
    "REDACTED",
    "LandingBusy",
    "LandingError",
    "LandingNoAnswer",
    "LandingNotConfigured",
    "LandingResponse",
    "LandingTimeout",
    "LandingUnreachable",
    "acredits",
    "atopup",
    "credits",
    "redact",
    "topup",
]

USER_AGENT = f"reef-credits/{__version__} (+django; httpx/{httpx.__version__})"
T = TypeVar("T")


class _LandingLoop:
    """The process's landing calls: the event loop sync callers' calls run on (a daemon
    thread, started on a sync caller's first use), the pooled clients of every loop that
    calls, and the count of calls in flight. A forked child starts afresh: its copy of the
    thread does not run, and its parent's calls are not its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = os.getpid()
        self._clients: dict[asyncio.AbstractEventLoop, dict[tuple[float, int, int], httpx.AsyncClient]] = {}
        self.transport: httpx.AsyncBaseTransport | None = None
        self.in_flight = 0

    def _forget_the_parent(self) -> None:
        """In a forked child, drop the parent's loop, clients and count (the lock is held)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._loop = None
            self._clients = {}
            self.in_flight = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            self._forget_the_parent()
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="credits-landing", daemon=True).start()
            return self._loop

    def take_slot(self, limit: int) -> None:
        """One of the process's ``limit`` places for a landing call, or LandingBusy."""
        with self._lock:
            self._forget_the_parent()
            if self.in_flight >= limit:
                raise LandingBusy(f"{self.in_flight} landing calls are in flight already")
            self.in_flight += 1

    def release_slot(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop())

    def client(self, conf: CreditsSettings) -> httpx.AsyncClient:
        """The running loop's pooled client for this configuration (made on first use)."""
        loop = asyncio.get_running_loop()
        key = (float(conf.CONNECT_TIMEOUT), conf.MAX_LANDING_CALLS, id(self.transport))
        client = self._clients.get(loop, {}).get(key)
        if client is None:
            client = httpx.AsyncClient(
                # The total deadline is the caller's; these only bound the phases within it.
                timeout=httpx.Timeout(None, connect=conf.CONNECT_TIMEOUT, pool=conf.CONNECT_TIMEOUT),
                follow_redirects=False,
                transport=self.transport,
                limits=httpx.Limits(max_connections=conf.MAX_LANDING_CALLS, max_keepalive_connections=20),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                trust_env=False,
            )
            with self._lock:
                for closed in [other for other in self._clients if other.is_closed()]:
                    del self._clients[closed]  # a finished loop's (a test's, an async_to_sync call's)
                self._clients.setdefault(loop, {})[key] = client
        return client

    def forget_clients(self) -> None:
        """Drop every pooled client (the landing loop's are closed; other loops' connections
        close when those loops end)."""
        with self._lock:
            clients, self._clients = self._clients, {}
        own = clients.get(self._loop) if self._loop is not None else None
        for client in (own or {}).values():
            self.submit(client.aclose()).result(timeout=5)


_landing = _LandingLoop()


def _use_transport(
    transport: httpx.AsyncBaseTransport | None, *, forget_clients: bool = False
) -> httpx.AsyncBaseTransport | None:
    """Send every landing request through ``transport`` from now on (None: over the network) and
    return the one used until now; ``forget_clients`` drops every pooled client as well.

    The hook behind :func:`credits.testing.override_transport`, which is the way to use it."""
    previous, _landing.transport = _landing.transport, transport
    if forget_clients:
        _landing.forget_clients()
    return previous


def redact(text: str) -> str:
    """``text`` with the token, should it appear there, replaced by ``[redacted]``.

    Public: a host scrubs text with it before showing or storing it, such as an agent's error
    that may quote a landing call (chat.services does). The rest of this module is the app's own.
    """
    return redact_token(text, get_settings().AUTH_TOKEN)


async def _send(
    conf: CreditsSettings, method: str, path: str, body: dict[str, Any] | None, key: str | None, deadline: float
) -> LandingResponse:
    assert conf.AUTH_TOKEN
    headers = {"Authorization": f"Bearer {conf.AUTH_TOKEN}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    client = _landing.client(conf)
    try:
        async with asyncio.timeout(deadline):
            response = await client.request(method, f"{conf.landing_url}{path}", json=body, headers=headers)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
        raise LandingUnreachable(f"cannot connect to the landing: {type(exc).__name__}") from exc
    except (httpx.TimeoutException, TimeoutError) as exc:
        raise LandingTimeout(f"no answer from the landing in time: {type(exc).__name__}") from exc
    except httpx.TransportError as exc:
        raise LandingNoAnswer(f"the connection to the landing broke: {type(exc).__name__}") from exc
    try:
        data = response.json() if "json" in response.headers.get("content-type", "") else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    return LandingResponse(response.status_code, data, response.headers.get("retry-after"))


def _slot() -> CreditsSettings:
    """The settings, once a place for one call is taken (release it with ``release_slot``)."""
    conf = get_settings()
    if not conf.AUTH_TOKEN:
        raise LandingNotConfigured("CREDITS['AUTH_TOKEN'] is not set")
    _landing.take_slot(conf.MAX_LANDING_CALLS)
    return conf


def _call(
    method: str, path: str, body: dict[str, Any] | None, key: str | None, deadline: float
) -> Future[LandingResponse]:
    """Start one landing call on the landing loop; its future, released from the cap when done."""
    conf = _slot()
    try:
        future = _landing.submit(_send(conf, method, path, body, key, deadline))
    except BaseException:
        _landing.release_slot()
        raise
    future.add_done_callback(lambda _: _landing.release_slot())
    return future


async def _acall(
    method: str, path: str, body: dict[str, Any] | None, key: str | None, deadline: float
) -> LandingResponse:
    """One landing call on the caller's own event loop (no thread between), within the cap."""
    conf = _slot()
    try:
        return await _send(conf, method, path, body, key, deadline)
    finally:
        _landing.release_slot()


_Args = tuple[str, str, dict[str, Any] | None, str | None, float]  # method, path, body, key, deadline


def _topup_args(amount_cents: int, idempotency_key: str) -> _Args:
    return "POST", "/api/reef/topup-credits", {"amountCents": amount_cents}, idempotency_key, get_settings().TIMEOUT


def _credits_args() -> _Args:
    return "GET", "/api/reef/credits", None, None, get_settings().BALANCE_TIMEOUT


def _wait(future: Future[T], deadline: float) -> T:
    try:
        return future.result(timeout=deadline + 5)  # the call ends by its deadline; this is a backstop
    except TimeoutError as exc:
        future.cancel()
        raise LandingTimeout("no answer from the landing in time") from exc


def call(method: str, path: str, body: dict[str, Any] | None, key: str | None, deadline: float) -> LandingResponse:
    """One landing call with the token (``key`` as its ``Idempotency-Key``), blocking the caller
    for at most ``deadline`` seconds: what :func:`topup` and :func:`credits` are made of."""
    return _wait(_call(method, path, body, key, deadline), deadline)


def topup(amount_cents: int, idempotency_key: str) -> LandingResponse:
    """Ask the landing to charge the team's card and grant ``amount_cents`` (blocks the caller)."""
    return call(*_topup_args(amount_cents, idempotency_key))


async def atopup(amount_cents: int, idempotency_key: str) -> LandingResponse:
    """:func:`topup` for async views: waiting holds no thread."""
    return await _acall(*_topup_args(amount_cents, idempotency_key))


def credits() -> LandingResponse:
    """The team's balance: ``{"credits", "spend", "remaining"}`` in dollars."""
    return call(*_credits_args())


async def acredits() -> LandingResponse:
    return await _acall(*_credits_args())
