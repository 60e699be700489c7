"""The sandbox landing over real HTTP: a stand-in for the billing service.

It speaks the landing's API (``GET /api/reef/credits``, ``POST /api/reef/topup-credits``),
checks the bearer token, and has ``POST /api/reef/spend``, which only the sandbox has, for
the demo agent, and a ``/billing`` page for its declines' links. It never moves real money.
What it knows and answers is :class:`~credits.testing.state.SandboxState`'s; this module
routes requests to it and sends its replies.

Control (no token needed, so it answers only to clients on loopback, 127.0.0.0/8 and ::1;
anyone else gets 403 for any ``/sandbox...`` path): ``GET /sandbox/state`` and
``POST /sandbox/configure`` with a JSON object of the changes :mod:`credits.testing.state`
lists (400 for one that is not valid).

Loopback is not enough: any web page open in a browser on this machine can send requests to
it. So the control also refuses what only a browser sends, a request with an ``Origin``
header or with ``Sec-Fetch-Site`` other than ``none`` or ``same-origin`` (403), and takes a
``POST`` only with ``Content-Type: application/json`` (415): a page cannot send that to
another origin without a CORS preflight, which the sandbox never grants. A form post or a
``no-cors`` fetch changes nothing. curl and scripts send neither header.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

from . import replies
from .replies import Reply
from .state import SandboxState

logger = logging.getLogger("credits.sandbox")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address, or ``localhost``) is on the loopback interface:
    127.0.0.0/8, ::1, or such an IPv4 address mapped into IPv6."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


@dataclass(frozen=True)
class Request:
    """What a route needs of a request."""

    body: Any  # the decoded JSON body; None when there is none or it is not JSON
    idempotency_key: str  # "" when none was sent
    origin: str  # the sandbox's own URL
    query: str = ""  # the query string, without its "?"


def _configure(state: SandboxState, request: Request) -> Reply:
    if not isinstance(request.body, dict):
        return replies.CONTROL_NOT_AN_OBJECT
    try:
        state.configure(**request.body)
    except (TypeError, ValueError) as exc:
        return replies.invalid_control(exc)
    return Reply(200, state.snapshot())


class Route(NamedTuple):
    answer: Callable[[SandboxState, Request], Reply]
    token: bool  # the bearer token is required (the landing's API); the control is loopback-only instead


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/api/reef/credits"): Route(lambda state, _: Reply(200, state.read_balance()), token=True),
    ("POST", "/api/reef/topup-credits"): Route(
        lambda state, request: state.topup(request.idempotency_key, request.body, request.origin), token=True
    ),
    ("POST", "/api/reef/spend"): Route(lambda state, request: state.spend(request.body), token=True),
    ("GET", "/billing"): Route(lambda state, request: replies.billing_page(request.query), token=False),
    ("GET", "/sandbox/state"): Route(lambda state, _: Reply(200, state.snapshot()), token=False),
    ("POST", "/sandbox/configure"): Route(_configure, token=False),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sandbox landing: " + format, *args)

    def do_GET(self) -> None:
        self._route(None)

    def do_POST(self) -> None:
        self._route(self._body())  # read first, so the connection can carry the next request

    def _route(self, body: Any) -> None:
        state = self.server.state
        path, _, query = self.path.partition("?")
        route = ROUTES.get((self.command, path))
        refusal = self._refused_control()
        if refusal is not None:
            reply = refusal
        elif route is None:
            reply = replies.NOT_FOUND
        elif route.token and not self._authorized(state.token):
            reply = replies.UNAUTHORIZED
        else:
            key = self.headers.get("Idempotency-Key") or ""
            reply = route.answer(state, Request(body, key, self.server.url, query))
        try:
            self._reply(reply)
        finally:
            if reply.after is not None:
                reply.after()

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None

    def _refused_control(self) -> Reply | None:
        """The refusal of a request for the control endpoints (``/sandbox...``, which take no
        token): from a client not on loopback, from a web page, or a ``POST`` that is not JSON.
        None for any other request."""
        if not self.path.startswith("/sandbox"):
            return None
        client = str(self.client_address[0])
        if not is_loopback(client):
            logger.warning(
                "sandbox landing: refused %s %s from %s (control is for loopback only)", self.command, self.path, client
            )
            return replies.CONTROL_REFUSED
        if self._from_a_page():
            logger.warning(
                "sandbox landing: refused %s %s, sent by a web page (Origin or Sec-Fetch-Site)", self.command, self.path
            )
            return replies.CONTROL_FROM_A_PAGE
        if self.command == "POST" and self.headers.get_content_type() != "application/json":
            return replies.CONTROL_NOT_JSON
        return None

    def _from_a_page(self) -> bool:
        """Whether a browser sent this on a web page's behalf: only browsers add ``Origin`` (to
        every cross-origin request, and to any POST) or a ``Sec-Fetch-Site`` saying the request
        came from another site."""
        if "Origin" in self.headers:
            return True
        fetched_from = self.headers.get("Sec-Fetch-Site")
        return fetched_from is not None and fetched_from.strip().lower() not in ("none", "same-origin")

    def _authorized(self, token: str) -> bool:
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    def _reply(self, reply: Reply) -> None:
        """Send ``reply`` after its delay, or hang up without an answer."""
        if reply.delay:
            time.sleep(reply.delay)
        if reply.hang_up:
            self.close_connection = True
            self.connection.close()
            return
        raw = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(raw)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("sandbox landing: the client left before the answer")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # many connections at once, as a real landing takes (the default is 5)

    def __init__(self, address: tuple[str, int], state: SandboxState) -> None:
        self.state = state
        super().__init__(address, _Handler)
        host, port = self.socket.getsockname()[:2]
        self.url = f"http://{host}:{port}"


class SandboxLanding:
    """A sandbox landing on its own thread: ``with SandboxLanding(token) as landing: landing.url``.

    With ``state_file``, the money state is loaded from it if it exists (``credits`` is then
    only the balance of a fresh start) and saved to it on every change.
    """

    def __init__(
        self,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        credits: float = 10.0,
        state_file: str | Path | None = None,
    ) -> None:
        if not token:
            raise ValueError("the sandbox landing needs a token to check")
        self.state = SandboxState(
            token=token,
            credits_cents=round(credits * 100),
            state_file=Path(state_file) if state_file is not None else None,
        )
        self.state.load()
        self._server = _Server((host, port), self.state)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> SandboxLanding:
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-landing", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SandboxLanding:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
