"""The sandbox landing: a stand-in for the billing service, over real HTTP.

It speaks the landing's API (``/api/reef/topup-credits``, ``/api/reef/credits``), keeps a
balance, checks the bearer token, honours ``Idempotency-Key`` and can be told to fail, so
every outcome can be seen working on a laptop. It also has ``/api/reef/spend``, which only
the sandbox has, for the demo agent. It never moves real money.

Control (no token needed, so it answers only to clients on loopback, 127.0.0.0/8 and ::1;
anyone else gets 403): ``GET /sandbox/state`` and ``POST /sandbox/configure`` with any of
``{"mode": ..., "delay": seconds, "credits": dollars, "spend": dollars, "remaining": dollars,
"next": ..., "nextSeconds": seconds, "reset": true, "faults": {...} | null}`` (any other key
is refused with 400, and nothing is changed):

- ``mode`` answers every top-up from now on (see the modes below), ``delay`` holds every answer;
- ``next`` answers only the next new top-up (a new ``Idempotency-Key``) with a mode, or with
  ``late`` (charge, then answer ``nextSeconds`` late, 30 by default: past the site's
  timeout); then the sandbox goes back to ``mode``. ``null`` cancels it;
- ``remaining`` spends the balance down (or tops it up) to that many dollars: ``0`` runs the
  credits out again, so the chat says "No credits available";
- ``reset`` starts over: the starting balance (``credits`` of the constructor, ``--credits``),
  mode ``ok``, no delay, no ``next``, no faults, and the charges and stored answers forgotten.

Modes for top-ups: ``ok``, ``decline``, ``no_card``, ``requires_action``, ``rejected``
(422), ``unauthorized`` (401), ``forbidden`` (403), ``rate_limited`` (429), ``error``
(500), ``not_json`` (200 HTML), ``redirect`` (302), ``drop`` (close without an answer and
without charging) and ``drop_after_charge`` (charge, store the 200 under the key so a retry
gets it replayed, then close without an answer).
``delay`` holds every top-up answer that long (after the charge, as a slow bank would).

Random faults, for soak tests: ``"faults": {"late": p, "drop": p, "decline": p,
"lateSeconds": 2.0, "seed": n}`` (probabilities 0..1, summing to at most 1; every key
optional; ``null`` or ``{}`` turns them off, as ``reset`` does). They apply only in mode
``ok`` and only to a top-up with a new key that ``next`` does not answer: one draw each,
``late`` charges and answers ``lateSeconds`` late, ``drop`` acts as ``drop_after_charge``,
``decline`` stores and answers the ``card_declined`` decline. ``/sandbox/state`` counts them
under ``"faults"``.

With a state file (``SandboxLanding(..., state_file=...)``, ``--state-file``), the money
state (balance, charges, stored answers, request and fault counts) survives a restart; it
is rewritten atomically on every charge, stored decline, spend and configure.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import math
import os
import random
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
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
    "drop_after_charge",
)

# What ``next`` takes: a mode, or ``late`` (charge, then answer ``nextSeconds`` late).
NEXT_MODES = (*MODES, "late")
NEXT_SECONDS = 30.0  # past the site's default timeout (VERS_LANDING_TIMEOUT, 20 s)

# The keys ``/sandbox/configure`` takes.
CONTROLS = ("mode", "delay", "credits", "spend", "remaining", "next", "nextSeconds", "reset", "faults")
_NUMBERS = ("delay", "credits", "spend", "remaining", "nextSeconds")

FAULTS = ("late", "drop", "decline")
_FAULT_MODES = {"late": "ok", "drop": "drop_after_charge", "decline": "decline"}


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


@dataclass
class Charge:
    key: str
    amount_cents: int


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"faults.{name} must be a number")
    return float(value)


def _control_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number")
    return float(value)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


@dataclass(frozen=True)
class FaultConfig:
    """Probabilities of random faults on new top-ups, and how they are drawn."""

    late: float = 0.0
    drop: float = 0.0
    decline: float = 0.0
    late_seconds: float = 2.0
    seed: int | None = None

    @classmethod
    def parse(cls, raw: Any) -> FaultConfig | None:
        """The config from its JSON form (None for ``null`` or ``{}``); ValueError if it is not valid."""
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise ValueError("faults must be an object or null")
        unknown = set(raw) - {*FAULTS, "lateSeconds", "seed"}
        if unknown:
            raise ValueError(f"unknown faults: {', '.join(sorted(map(str, unknown)))}")
        if not raw:
            return None
        chances = {name: _number(raw.get(name, 0.0), name) for name in FAULTS}
        if any(not 0.0 <= p <= 1.0 for p in chances.values()):
            raise ValueError("fault probabilities must be between 0 and 1")
        if sum(chances.values()) > 1.0 + 1e-9:
            raise ValueError("fault probabilities must add up to at most 1")
        late_seconds = _number(raw.get("lateSeconds", 2.0), "lateSeconds")
        if late_seconds < 0:
            raise ValueError("faults.lateSeconds must not be negative")
        seed = raw.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError("faults.seed must be an integer")
        return cls(late_seconds=late_seconds, seed=seed, **chances)

    def as_json(self) -> dict[str, Any]:
        return {
            "late": self.late,
            "drop": self.drop,
            "decline": self.decline,
            "lateSeconds": self.late_seconds,
            "seed": self.seed,
        }


@dataclass
class SandboxState:
    """Everything the sandbox landing knows; guarded by ``lock``."""

    token: str
    credits_cents: int = 1000
    spend_cents: int = 0
    mode: str = "ok"
    delay: float = 0.0
    next_mode: str | None = None  # answers the next new top-up only (``next``), then ``mode`` again
    next_seconds: float = NEXT_SECONDS
    initial_cents: int | None = None  # what ``reset`` brings the balance back to; None: credits_cents
    charges: list[Charge] = field(default_factory=list)
    topup_requests: int = 0
    answers: dict[str, tuple[int, dict[str, Any], int]] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    faults: FaultConfig | None = None
    fault_counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULTS, 0))
    state_file: Path | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.initial_cents is None:
            self.initial_cents = self.credits_cents

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
                "next": self.next_mode,
                "nextSeconds": self.next_seconds,
                "topupRequests": self.topup_requests,
                "charges": [{"key": c.key, "amountCents": c.amount_cents} for c in self.charges],
                "faults": dict(self.fault_counts),
                "faultConfig": self.faults.as_json() if self.faults else None,
            }

    def configure(self, **changes: Any) -> None:
        """Apply ``/sandbox/configure`` changes (the module's docstring); ValueError, and nothing
        changed, if one is not valid."""
        unknown = set(changes) - set(CONTROLS)
        if unknown:
            raise ValueError(
                f"unknown setting {', '.join(sorted(map(str, unknown)))}; the known ones are {', '.join(CONTROLS)}"
            )
        if "mode" in changes and changes["mode"] not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if "next" in changes and changes["next"] is not None and changes["next"] not in NEXT_MODES:
            raise ValueError(f"next must be one of {', '.join(NEXT_MODES)}, or null")
        numbers = {name: _control_number(changes[name], name) for name in _NUMBERS if name in changes}
        if numbers.get("nextSeconds", 0.0) < 0:
            raise ValueError("nextSeconds must not be negative")
        faults = FaultConfig.parse(changes["faults"]) if "faults" in changes else None
        with self.lock:
            if changes.get("reset"):
                self.spend_cents, self.mode, self.delay, self.topup_requests = 0, "ok", 0.0, 0
                self.credits_cents = self.initial_cents if self.initial_cents is not None else self.credits_cents
                self.next_mode, self.next_seconds = None, NEXT_SECONDS
                self.charges.clear()
                self.answers.clear()
                self.in_flight.clear()
                self.faults = None
                self.fault_counts = dict.fromkeys(FAULTS, 0)
            if "mode" in changes:
                self.mode = changes["mode"]
            if "next" in changes:
                self.next_mode = changes["next"]
            if "nextSeconds" in changes:
                self.next_seconds = numbers["nextSeconds"]
            if "delay" in changes:
                self.delay = max(0.0, numbers["delay"])
            if "credits" in changes:
                self.credits_cents = round(numbers["credits"] * 100)
            if "spend" in changes:
                self.spend_cents = round(numbers["spend"] * 100)
            if "remaining" in changes:
                # Spend down to it (never a negative spend: the credits grow instead).
                target = round(numbers["remaining"] * 100)
                self.spend_cents = max(0, self.credits_cents - target)
                self.credits_cents = self.spend_cents + target
            if "faults" in changes:
                self.faults = faults
                self._rng = random.Random(faults.seed if faults else None)
            self.save()

    def take_next(self, delay: float) -> tuple[str, float] | None:
        """The mode and delay ``next`` asked for, once (then it is cleared); None when it asked
        for nothing. Call with the lock held."""
        chosen = self.next_mode
        if chosen is None:
            return None
        self.next_mode = None
        if chosen == "late":
            return "ok", delay + self.next_seconds
        return chosen, delay

    def draw_fault(self, mode: str, delay: float) -> tuple[str, float]:
        """The mode and delay to answer a new top-up with: one draw of the faults (only in mode ``ok``).

        Call with the lock held; a drawn fault is counted.
        """
        faults = self.faults
        if mode != "ok" or faults is None:
            return mode, delay
        roll, threshold = self._rng.random(), 0.0
        for name, chance in (("late", faults.late), ("drop", faults.drop), ("decline", faults.decline)):
            threshold += chance
            if roll < threshold:
                self.fault_counts[name] += 1
                return _FAULT_MODES[name], delay + (faults.late_seconds if name == "late" else 0.0)
        return mode, delay

    # -- persistence ------------------------------------------------------------------
    def save(self) -> None:
        """Write the money state to ``state_file`` atomically (call with the lock held)."""
        if self.state_file is None:
            return
        data = {
            "creditsCents": self.credits_cents,
            "spendCents": self.spend_cents,
            "topupRequests": self.topup_requests,
            "charges": [{"key": c.key, "amountCents": c.amount_cents} for c in self.charges],
            "answers": {
                key: {"status": status, "body": body, "amountCents": amount}
                for key, (status, body, amount) in self.answers.items()
            },
            "faults": self.fault_counts,
        }
        fd, temp = tempfile.mkstemp(dir=self.state_file.parent, prefix=f".{self.state_file.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(data, out)
            os.replace(temp, self.state_file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

    def load(self) -> None:
        """Take the money state from ``state_file`` if it exists; a corrupt file is ignored with a warning."""
        if self.state_file is None:
            return
        try:
            data = json.loads(self.state_file.read_text())
            credits_cents, spend_cents = _whole(data["creditsCents"]), _whole(data["spendCents"])
            topup_requests = _whole(data["topupRequests"])
            charges = [Charge(str(c["key"]), _whole(c["amountCents"])) for c in data["charges"]]
            answers: dict[str, tuple[int, dict[str, Any], int]] = {}
            for key, answer in data["answers"].items():
                if not isinstance(answer["body"], dict):
                    raise TypeError("a stored answer body is not an object")
                answers[key] = (_whole(answer["status"]), answer["body"], _whole(answer["amountCents"]))
            fault_counts = {name: _whole(data["faults"].get(name, 0)) for name in FAULTS}
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            logger.warning("sandbox landing: ignoring the corrupt state file %s (%s)", self.state_file, exc)
            return
        with self.lock:
            self.credits_cents, self.spend_cents, self.topup_requests = credits_cents, spend_cents, topup_requests
            self.charges, self.answers, self.fault_counts = charges, answers, fault_counts


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

    def _refused_control(self) -> bool:
        """Refuses (403) a request for the control endpoints (``/sandbox/...``, which take no
        token) from a client that is not on loopback; False when the request may go on."""
        client = str(self.client_address[0])
        if not self.path.startswith("/sandbox") or is_loopback(client):
            return False
        logger.warning(
            "sandbox landing: refused %s %s from %s (control is for loopback only)", self.command, self.path, client
        )
        self._send(403, {"error": "The sandbox's control endpoints answer only on loopback.", "code": "forbidden"})
        return True

    def _authorized(self) -> bool:
        given = self.headers.get("Authorization", "")
        expected = f"Bearer {self.state.token}"
        if hmac.compare_digest(given.encode(), expected.encode()):
            return True
        self._send(401, {"error": "Invalid or missing token.", "code": "unauthorized"})
        return False

    # -- routes -----------------------------------------------------------------------
    def do_GET(self) -> None:
        if self._refused_control():
            return
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
        body = self._body()  # read first, so the connection can carry the next request
        if self._refused_control():
            return
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
            self.state.save()
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
                mode, delay = state.take_next(delay) or state.draw_fault(mode, delay)
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
            "decline": (
                402,
                {"error": "Your card was declined (sandbox).", "code": "card_declined", "url": f"{origin}/billing"},
            ),
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
            self._drop(delay)
            return
        if mode in declines:
            status, body = declines[mode]
            with state.lock:
                if key:
                    state.answers[key] = (status, body, amount)
                state.save()
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
            state.save()
        if mode == "drop_after_charge":
            self._drop(delay)
            return
        if mode == "not_json":
            self._answer_raw(200, b"<html><body>OK</body></html>", "text/html", delay)
            return
        self._answer_json(200, body, delay)

    def _drop(self, delay: float) -> None:
        """Close the connection without an answer, after ``delay``."""
        if delay:
            time.sleep(delay)
        self.close_connection = True
        self.connection.close()

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
