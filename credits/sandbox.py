"""The sandbox landing: a stand-in for the billing service, over real HTTP.

It speaks the landing's API (``/api/reef/topup-credits``, ``/api/reef/credits``), keeps a
balance, checks the bearer token, honours ``Idempotency-Key`` and can be told to fail, so
every outcome can be seen working on a laptop. It also has ``/api/reef/spend``, which only
the sandbox has, for the demo agent. It never moves real money.

Control (no token needed; bind it to loopback only):
``GET /sandbox/state`` and ``POST /sandbox/configure`` with any of
``{"mode": ..., "delay": seconds, "credits": dollars, "spend": dollars, "reset": true}``.

Modes for top-ups: ``ok``, ``decline``, ``no_card``, ``requires_action``, ``rejected``
(422), ``unauthorized`` (401), ``forbidden`` (403), ``rate_limited`` (429), ``error``
(500), ``not_json`` (200 HTML), ``redirect`` (302) and ``drop`` (close without an answer).
``delay`` holds every top-up answer that long (after the charge, as a slow bank would).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger("credits.sandbox")

MODES = (
    "ok",
    "decline",
    "no_card",
    "requires_action",
    "rejected",
    "unauthorized",
    "forbidden",
    "rate_limited",
    "error",
    "not_json",
    "redirect",
    "drop",
)


@dataclass
class Charge:
    key: str
    amount_cents: int


@dataclass
class SandboxState:
    token: str
    credits_cents: int = 1000
    spend_cents: int = 0
    mode: str = "ok"
    delay: float = 0.0
    charges: list[Charge] = field(default_factory=list)
    topup_requests: int = 0
    answers: dict[str, tuple[int, dict[str, Any], int]] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def balance(self) -> dict[str, float]:
        return {
            "credits": self.credits_cents / 100,
            "spend": self.spend_cents / 100,
            "remaining": (self.credits_cents - self.spend_cents) / 100,
        }

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                **self.balance(),
                "mode": self.mode,
                "delay": self.delay,
                "topupRequests": self.topup_requests,
                "charges": [{"key": c.key, "amountCents": c.amount_cents} for c in self.charges],
            }

    def configure(self, **changes: Any) -> None:
        with self.lock:
            if changes.get("reset"):
                self.spend_cents, self.mode, self.delay, self.topup_requests = 0, "ok", 0.0, 0
                self.charges.clear()
                self.answers.clear()
                self.in_flight.clear()
            if "mode" in changes:
                if changes["mode"] not in MODES:
                    raise ValueError(f"mode must be one of {', '.join(MODES)}")
                self.mode = changes["mode"]
            if "delay" in changes:
                self.delay = max(0.0, float(changes["delay"]))
            if "credits" in changes:
                self.credits_cents = round(float(changes["credits"]) * 100)
            if "spend" in changes:
                self.spend_cents = round(float(changes["spend"]) * 100)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sandbox landing: " + format, *args)

    # -- plumbing ---------------------------------------------------------------------
    @property
    def state(self) -> SandboxState:
        return self.server.state

    def _send(
        self, status: int, body: Any, content_type: str = "application/json", headers: dict[str, str] | None = None
    ) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None

    def _authorized(self) -> bool:
        given = self.headers.get("Authorization", "")
        expected = f"Bearer {self.state.token}"
        if hmac.compare_digest(given.encode(), expected.encode()):
            return True
        self._send(401, {"error": "Invalid or missing token.", "code": "unauthorized"})
        return False

    # -- routes -----------------------------------------------------------------------
    def do_GET(self) -> None:
        if self.path == "/api/reef/credits":
            if self._authorized():
                with self.state.lock:
                    balance = self.state.balance()
                self._send(200, balance)
        elif self.path == "/sandbox/state":
            self._send(200, self.state.snapshot())
        elif self.path == "/billing":
            self._send(200, b"<h1>Sandbox billing</h1><p>No real card is needed here.</p>", "text/html")
        else:
            self._send(404, {"error": "Not found.", "code": "not_found"})

    def do_POST(self) -> None:
        body = self._body()
        if self.path == "/api/reef/topup-credits":
            if self._authorized():
                self._topup(body)
        elif self.path == "/api/reef/spend":
            if self._authorized():
                self._spend(body)
        elif self.path == "/sandbox/configure":
            try:
                self.state.configure(**(body if isinstance(body, dict) else {}))
            except (TypeError, ValueError) as exc:
                self._send(400, {"error": str(exc), "code": "invalid"})
                return
            self._send(200, self.state.snapshot())
        else:
            self._send(404, {"error": "Not found.", "code": "not_found"})

    def _spend(self, body: Any) -> None:
        amount = body.get("amountCents") if isinstance(body, dict) else None
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            self._send(400, {"error": "amountCents must be a positive integer.", "code": "invalid_amount"})
            return
        with self.state.lock:
            if self.state.credits_cents - self.state.spend_cents <= 0:
                self._send(402, {"error": "No credits available.", "code": "no_credits"})
                return
            self.state.spend_cents += amount
            balance = self.state.balance()
        self._send(200, balance)

    def _topup(self, body: Any) -> None:
        state = self.state
        key = self.headers.get("Idempotency-Key") or ""
        amount = body.get("amountCents") if isinstance(body, dict) else None
        with state.lock:
            state.topup_requests += 1
            mode, delay = state.mode, state.delay
            if (
                not isinstance(body, dict)
                or set(body) != {"amountCents"}
                or not isinstance(amount, int)
                or isinstance(amount, bool)
                or amount <= 0
            ):
                answer: tuple[int, dict[str, Any], int] | None = (
                    400,
                    {"error": 'The body must be exactly {"amountCents": N}.', "code": "invalid_request"},
                    0,
                )
            elif key in state.answers:
                status, stored, stored_amount = state.answers[key]
                answer = (
                    (status, stored, stored_amount)
                    if stored_amount == amount
                    else (
                        422,
                        {"error": "This Idempotency-Key was used with another amount.", "code": "idempotency_mismatch"},
                        amount,
                    )
                )
            elif key and key in state.in_flight:
                answer = (
                    409,
                    {"error": "A request with this Idempotency-Key is in progress.", "code": "in_progress"},
                    amount,
                )
            else:
                answer = None
                if key:
                    state.in_flight.add(key)
        if answer is not None:
            self._answer_json(answer[0], answer[1], delay)
            return
        assert isinstance(amount, int)
        try:
            self._charge(mode, delay, key, amount)
        finally:
            with state.lock:
                state.in_flight.discard(key)

    def _charge(self, mode: str, delay: float, key: str, amount: int) -> None:
        state = self.state
        origin = self.server.url
        declines: dict[str, tuple[int, dict[str, Any]]] = {
            "decline": (402, {"error": "Your card was declined (sandbox).", "code": "card_declined"}),
            "no_card": (
                402,
                {"error": "No card is saved for this team.", "code": "no_card", "url": f"{origin}/billing"},
            ),
            "requires_action": (
                402,
                {
                    "error": "Your bank asks you to confirm this payment.",
                    "code": "requires_action",
                    "url": f"{origin}/billing",
                },
            ),
            "rejected": (422, {"error": "This amount cannot be charged.", "code": "amount_rejected"}),
        }
        if mode == "drop":
            if delay:
                time.sleep(delay)
            self.close_connection = True
            self.connection.close()
            return
        if mode in declines:
            status, body = declines[mode]
            with state.lock:
                if key:
                    state.answers[key] = (status, body, amount)
            self._answer_json(status, body, delay)
            return
        if mode in ("unauthorized", "forbidden"):
            self._answer_json(401 if mode == "unauthorized" else 403, {"error": "Token refused.", "code": mode}, delay)
            return
        if mode == "rate_limited":
            self._answer_json(
                429,
                {"error": "Too many charges for this team, slow down.", "code": "rate_limited"},
                delay,
                {"Retry-After": "30"},
            )
            return
        if mode == "error":
            self._answer_raw(500, b"<html><body>Internal Server Error</body></html>", "text/html", delay)
            return
        if mode == "redirect":
            self._answer_raw(302, b"", "text/html", delay, {"Location": f"{origin}/login"})
            return
        with state.lock:
            state.credits_cents += amount
            state.charges.append(Charge(key, amount))
            body = {"ok": True, "amountCents": amount, **state.balance()}
            if key:
                state.answers[key] = (200, body, amount)
        if mode == "not_json":
            self._answer_raw(200, b"<html><body>OK</body></html>", "text/html", delay)
            return
        self._answer_json(200, body, delay)

    def _answer_json(
        self, status: int, body: dict[str, Any], delay: float, headers: dict[str, str] | None = None
    ) -> None:
        self._answer_raw(status, json.dumps(body).encode(), "application/json", delay, headers)

    def _answer_raw(
        self, status: int, raw: bytes, content_type: str, delay: float, headers: dict[str, str] | None = None
    ) -> None:
        if delay:
            time.sleep(delay)
        try:
            self._send(status, raw, content_type, headers)
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("sandbox landing: the client left before the answer")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: SandboxState) -> None:
        self.state = state
        super().__init__(address, _Handler)
        host, port = self.socket.getsockname()[:2]
        self.url = f"http://{host}:{port}"


class SandboxLanding:
    """A sandbox landing on its own thread: ``with SandboxLanding(token) as landing: landing.url``."""

    def __init__(self, token: str, host: str = "127.0.0.1", port: int = 0, credits: float = 10.0) -> None:
        if not token:
            raise ValueError("the sandbox landing needs a token to check")
        self.state = SandboxState(token=token, credits_cents=round(credits * 100))
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
