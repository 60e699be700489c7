"""The landing (the billing service) over HTTP.

This is the only module that sees the bearer token. One pooled ``httpx.Client`` per
timeout configuration, explicit connect and read timeouts, redirects never followed.
Tests and host sites inject a transport with :func:`override_transport`.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from . import __version__
from .conf import get_settings

USER_AGENT = f"reef-credits/{__version__} (+django; httpx/{httpx.__version__})"
REDACTED = "[redacted]"


class LandingError(Exception):
    """Base class: the landing could not give an answer."""


class LandingNotConfigured(LandingError):
    """No token is configured, so nothing is sent."""


class LandingUnreachable(LandingError):
    """No connection could be made: nothing was sent, so nothing was charged."""


class LandingTimeout(LandingError):
    """The request was sent but no answer came in time: the outcome is unknown."""


class LandingNoAnswer(LandingError):
    """The request was sent but the connection broke before an answer: outcome unknown."""


@dataclass(frozen=True)
class LandingResponse:
    status: int
    data: Any  # the decoded JSON body, or None when the body is not JSON
    retry_after: str | None = None

    @property
    def is_json_object(self) -> bool:
        return isinstance(self.data, dict)


_lock = threading.Lock()
_clients: dict[tuple[float, float, int], httpx.Client] = {}
_transport: httpx.BaseTransport | None = None


def _client() -> httpx.Client:
    conf = get_settings()
    key = (float(conf.TIMEOUT), float(conf.CONNECT_TIMEOUT), id(_transport))
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = httpx.Client(
                timeout=httpx.Timeout(conf.TIMEOUT, connect=conf.CONNECT_TIMEOUT, pool=conf.CONNECT_TIMEOUT),
                follow_redirects=False,
                transport=_transport,
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                trust_env=False,
            )
            _clients[key] = client
        return client


@contextmanager
def override_transport(transport: httpx.BaseTransport) -> Iterator[None]:
    """Send every landing request through ``transport`` (e.g. ``httpx.MockTransport``)."""
    global _transport
    with _lock:
        previous, _transport = _transport, transport
    try:
        yield
    finally:
        with _lock:
            _transport = previous
            for key in [k for k in _clients if k[2] == id(transport)]:
                _clients.pop(key).close()


def is_server_token(value: str | None) -> bool:
    """Whether ``value`` is the configured token (in constant time); False when none is set."""
    token = get_settings().AUTH_TOKEN
    return bool(token and value) and hmac.compare_digest(str(value).encode(), str(token).encode())


def redact(text: str) -> str:
    """``text`` with the token, should it appear there, replaced."""
    token = get_settings().AUTH_TOKEN
    return text.replace(token, REDACTED) if token else text


def _request(method: str, path: str, body: dict[str, Any] | None = None, key: str | None = None) -> LandingResponse:
    conf = get_settings()
    if not conf.AUTH_TOKEN:
        raise LandingNotConfigured("CREDITS['AUTH_TOKEN'] is not set")
    headers = {"Authorization": f"Bearer {conf.AUTH_TOKEN}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    try:
        response = _client().request(method, f"{conf.landing_url}{path}", json=body, headers=headers)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
        raise LandingUnreachable(f"cannot connect to the landing: {type(exc).__name__}") from exc
    except httpx.TimeoutException as exc:
        raise LandingTimeout(f"no answer from the landing in time: {type(exc).__name__}") from exc
    except httpx.TransportError as exc:
        raise LandingNoAnswer(f"the connection to the landing broke: {type(exc).__name__}") from exc
    try:
        data = response.json() if "json" in response.headers.get("content-type", "") else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    return LandingResponse(response.status_code, data, response.headers.get("retry-after"))


def topup(amount_cents: int, idempotency_key: str) -> LandingResponse:
    """Ask the landing to charge the team's card and grant ``amount_cents``."""
    return _request("POST", "/api/reef/topup-credits", {"amountCents": amount_cents}, idempotency_key)


def credits() -> LandingResponse:
    """The team's balance: ``{"credits", "spend", "remaining"}`` in dollars."""
    return _request("GET", "/api/reef/credits")


def spend(amount_cents: int) -> LandingResponse:
    """Spend credits (only the sandbox landing has this; the real one bills usage itself)."""
    return _request("POST", "/api/reef/spend", {"amountCents": amount_cents})
