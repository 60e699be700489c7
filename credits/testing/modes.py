"""How the sandbox landing answers top-ups: its modes, ``next``, and random faults.

Modes for top-ups: ``ok``, ``decline``, ``no_card``, ``requires_action``, ``rejected``
(422), ``unauthorized`` (401), ``forbidden`` (403), ``rate_limited`` (429), ``error``
(500), ``not_json`` (200 HTML), ``redirect`` (302), ``drop`` (close without an answer and
without charging) and ``drop_after_charge`` (charge, store the 200 under the key so a retry
gets it replayed, then close without an answer).

``next`` answers only the next new top-up (a new ``Idempotency-Key``) with a mode, or with
``late`` (charge, then answer ``nextSeconds`` late, 30 by default: past the site's timeout).

Random faults, for soak tests: ``{"late": p, "drop": p, "decline": p, "lateSeconds": 2.0,
"seed": n}`` (probabilities 0..1, summing to at most 1; every key optional; ``null`` or
``{}`` turns them off, as ``reset`` does). They apply only in mode ``ok`` and only to a
top-up with a new key that ``next`` does not answer: one draw each, ``late`` charges and
answers ``lateSeconds`` late, ``drop`` acts as ``drop_after_charge``, ``decline`` stores and
answers the ``card_declined`` decline. ``/sandbox/state`` counts them under ``"faults"``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

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

FAULTS = ("late", "drop", "decline")
FAULT_MODES = {"late": "ok", "drop": "drop_after_charge", "decline": "decline"}


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"faults.{name} must be a number")
    return float(value)


def control_number(value: Any, name: str) -> float:
    """``value`` as a float if it is a finite JSON number (not a boolean); ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number")
    return float(value)


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

    def draw(self, rng: random.Random) -> str | None:
        """One draw: the name of the fault that struck (one of ``FAULTS``), or None."""
        roll, threshold = rng.random(), 0.0
        for name, chance in (("late", self.late), ("drop", self.drop), ("decline", self.decline)):
            threshold += chance
            if roll < threshold:
                return name
        return None
