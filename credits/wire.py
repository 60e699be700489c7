"""The landing's wire format, pure (layer 1): its answers as the client hands them over,
the balance it reports, the keys a top-up carries, and the token kept out of any text.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

BALANCE_FIELDS = ("credits", "spend", "remaining")
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
REDACTED = "[redacted]"


@dataclass(frozen=True)
class LandingResponse:
    status: int
    data: Any  # the decoded JSON body, or None when the body is not JSON
    retry_after: str | None = None

    @property
    def is_json_object(self) -> bool:
        return isinstance(self.data, dict)


def parse_balance(data: Any) -> dict[str, float] | None:
    """``{"credits", "spend", "remaining"}`` as floats when ``data`` carries all three."""
    if not isinstance(data, dict):
        return None
    balance = {}
    for name in BALANCE_FIELDS:
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        balance[name] = float(value)
    return balance


def is_valid_key(key: str) -> bool:
    """An ``Idempotency-Key`` the contract accepts: 1 to 255 visible ASCII characters."""
    return KEY_PATTERN.fullmatch(key) is not None


def new_upstream_key() -> str:
    """A key for the landing, made once per ``(user, Idempotency-Key)``: two users' keys, or
    two intended top-ups, never meet there."""
    return f"reef-{uuid.uuid4().hex}"


def redact_token(text: str, token: str | None) -> str:
    """``text`` with ``token``, should it appear there, replaced by ``[redacted]``."""
    return text.replace(token, REDACTED) if token else text
