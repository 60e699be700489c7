"""The sandbox landing's state machine, with no HTTP: the balance, the charges, the stored
answers per ``Idempotency-Key``, how it answers (mode, delay, ``next``, faults), and its
state file.

Its control (``/sandbox/configure``) takes any of ``{"mode": ..., "delay": seconds, "credits":
dollars, "spend": dollars, "remaining": dollars, "next": ..., "nextSeconds": seconds,
"reset": true, "faults": {...} | null}`` (any other key is refused with ValueError, and
nothing is changed):

- ``mode`` answers every top-up from now on (:mod:`credits.testing.modes`), ``delay`` holds every answer;
- ``next`` answers only the next new top-up with a mode, or with ``late``; then the sandbox
  goes back to ``mode``. ``null`` cancels it;
- ``remaining`` spends the balance down (or tops it up) to that many dollars: ``0`` runs the
  credits out again, so the chat says "No credits available";
- ``reset`` starts over: the starting balance, mode ``ok``, no delay, no ``next``, no
  faults, and the charges and stored answers forgotten.
"""

from __future__ import annotations

import functools
import random
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeGuard

from . import replies, statefile
from .modes import FAULT_MODES, FAULTS, MODES, NEXT_MODES, NEXT_SECONDS, FaultConfig, control_number
from .replies import Reply
from .statefile import Answer, Charge

# The keys ``/sandbox/configure`` takes.
CONTROLS = ("mode", "delay", "credits", "spend", "remaining", "next", "nextSeconds", "reset", "faults")
_NUMBERS = ("delay", "credits", "spend", "remaining", "nextSeconds")


def _positive_whole(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


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
    answers: dict[str, Answer] = field(default_factory=dict)
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

    def read_balance(self) -> dict[str, float]:
        """:meth:`balance`, taking the lock."""
        with self.lock:
            return self.balance()

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
        numbers = {name: control_number(changes[name], name) for name in _NUMBERS if name in changes}
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
        name = faults.draw(self._rng)
        if name is None:
            return mode, delay
        self.fault_counts[name] += 1
        return FAULT_MODES[name], delay + (faults.late_seconds if name == "late" else 0.0)

    # -- the landing's API --------------------------------------------------------------
    def spend(self, body: Any) -> Reply:
        """``POST /api/reef/spend`` with ``{"amountCents": N}`` (the sandbox's own endpoint):
        402 once nothing remains."""
        amount = body.get("amountCents") if isinstance(body, dict) else None
        if not _positive_whole(amount):
            return replies.INVALID_SPEND
        with self.lock:
            if self.credits_cents - self.spend_cents <= 0:
                return replies.NO_CREDITS
            self.spend_cents += amount
            balance = self.balance()
            self.save()
        return Reply(200, balance)

    def topup(self, key: str, body: Any, origin: str) -> Reply:
        """``POST /api/reef/topup-credits`` with ``body`` under ``key`` ("" for none), charged or not
        as the mode says; ``origin`` is the sandbox's own URL, for its links.

        A new top-up stays in flight under its key (another request with it: 409) until the
        reply's ``after`` is run, once the reply is sent.
        """
        amount = body.get("amountCents") if isinstance(body, dict) else None
        with self.lock:
            self.topup_requests += 1
            mode, delay = self.mode, self.delay
            answer = self._known_answer(key, body, amount)
            if answer is None:
                if key:
                    self.in_flight.add(key)
                mode, delay = self.take_next(delay) or self.draw_fault(mode, delay)
        if answer is not None:
            return Reply.stored(answer, delay)
        assert isinstance(amount, int)
        try:
            reply = self._charge(mode, key, amount, origin)
        except BaseException:
            self._landed(key)
            raise
        return replace(reply, delay=delay, after=functools.partial(self._landed, key))

    def _known_answer(self, key: str, body: Any, amount: Any) -> Answer | None:
        """The answer to a top-up that is not new (a bad request, a replay, one in flight), or
        None for a new one. Call with the lock held."""
        if not isinstance(body, dict) or set(body) != {"amountCents"} or not _positive_whole(amount):
            return replies.INVALID_TOPUP
        if key in self.answers:
            stored = self.answers[key]
            return stored if stored[2] == amount else replies.key_mismatch(amount)
        if key and key in self.in_flight:
            return replies.in_progress(amount)
        return None

    def _charge(self, mode: str, key: str, amount: int, origin: str) -> Reply:
        """Answer a new top-up in ``mode``: a refusal, a stored decline, or a charge."""
        refusal = replies.refusal(mode, origin)
        if refusal is not None:
            return refusal
        decline = replies.decline(mode, origin)
        with self.lock:
            if decline is not None:
                status, body = decline
            else:
                self.credits_cents += amount
                self.charges.append(Charge(key, amount))
                status, body = 200, {"ok": True, "amountCents": amount, **self.balance()}
            if key:
                self.answers[key] = (status, body, amount)
            self.save()
        return Reply(status, body) if decline is not None else replies.charged(mode, body)

    def _landed(self, key: str) -> None:
        """The top-up under ``key`` is answered (or hung up): no longer in flight."""
        with self.lock:
            self.in_flight.discard(key)

    # -- persistence ------------------------------------------------------------------
    def save(self) -> None:
        """Write the money state to ``state_file`` atomically (call with the lock held)."""
        if self.state_file is None:
            return
        saved = statefile.Saved(
            self.credits_cents, self.spend_cents, self.topup_requests, self.charges, self.answers, self.fault_counts
        )
        statefile.write(self.state_file, saved)

    def load(self) -> None:
        """Take the money state from ``state_file`` if it exists; a corrupt file is ignored with a warning."""
        saved = statefile.read(self.state_file) if self.state_file is not None else None
        if saved is None:
            return
        with self.lock:
            self.credits_cents, self.spend_cents = saved.credits_cents, saved.spend_cents
            self.topup_requests, self.charges, self.answers = saved.topup_requests, saved.charges, saved.answers
            self.fault_counts = saved.fault_counts
