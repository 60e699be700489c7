"""The sandbox landing's state file: its money state as JSON, so it survives a restart.

The money state is the balance, the charges, the stored answers per ``Idempotency-Key`` and
the request and fault counts (not the mode, ``next``, the delay or the fault settings). The
file is rewritten atomically (a temporary file, then a rename) on every change; a corrupt
file is ignored with a warning, and the sandbox starts fresh.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .modes import FAULTS

logger = logging.getLogger("credits.sandbox")

# A stored answer: status, JSON body, and the amount it was asked for.
Answer = tuple[int, dict[str, Any], int]


@dataclass
class Charge:
    key: str
    amount_cents: int


@dataclass
class Saved:
    """What the state file holds."""

    credits_cents: int
    spend_cents: int
    topup_requests: int
    charges: list[Charge]
    answers: dict[str, Answer]
    fault_counts: dict[str, int]


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def write(path: Path, saved: Saved) -> None:
    """Write ``saved`` to ``path`` atomically."""
    data = {
        "creditsCents": saved.credits_cents,
        "spendCents": saved.spend_cents,
        "topupRequests": saved.topup_requests,
        "charges": [{"key": c.key, "amountCents": c.amount_cents} for c in saved.charges],
        "answers": {
            key: {"status": status, "body": body, "amountCents": amount}
            for key, (status, body, amount) in saved.answers.items()
        },
        "faults": saved.fault_counts,
    }
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def read(path: Path) -> Saved | None:
    """What ``path`` holds; None when there is no such file, or (with a warning) when it is corrupt."""
    try:
        data = json.loads(path.read_text())
        credits_cents, spend_cents = _whole(data["creditsCents"]), _whole(data["spendCents"])
        topup_requests = _whole(data["topupRequests"])
        charges = [Charge(str(c["key"]), _whole(c["amountCents"])) for c in data["charges"]]
        answers: dict[str, Answer] = {}
        for key, answer in data["answers"].items():
            if not isinstance(answer["body"], dict):
                raise TypeError("a stored answer body is not an object")
            answers[key] = (_whole(answer["status"]), answer["body"], _whole(answer["amountCents"]))
        fault_counts = {name: _whole(data["faults"].get(name, 0)) for name in FAULTS}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        logger.warning("sandbox landing: ignoring the corrupt state file %s (%s)", path, exc)
        return None
    return Saved(credits_cents, spend_cents, topup_requests, charges, answers, fault_counts)
