"""The outcome table (docs/contract.md section 2), written once: pure, no database.

A landing answer or a failure to get one goes in; what the audit records and what the
browser is told come out. :func:`settled_outcome` is the same table read by settlement,
which only accepts an answer that says for certain what happened to the first request.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .codes import Code, Result, Status
from .conf import CreditsSettings
from .exceptions import LandingBusy, LandingError, LandingNotConfigured, LandingTimeout, LandingUnreachable
from .wire import LandingResponse, parse_balance, redact_token
from .words import (
    msg_bad_answer_unknown,
    msg_busy,
    msg_declined,
    msg_landing_busy,
    msg_misconfigured,
    msg_not_configured,
    msg_timeout,
    msg_unreachable,
    msg_upstream_error,
)

LANDING_CODE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
DECLINE_STATUSES = frozenset({400, 402, 404, 409, 422})
MAX_LANDING_ERROR = 300


@dataclass(frozen=True)
class TopupResult:
    """What became of a top-up request, in the domain's terms: what the flows (claims,
    settlement, topups) return. ``outcome`` says it in a word, ``code`` why (one of
    :class:`~credits.codes.Code`, or the landing's own decline code), ``message`` in a sentence.
    ``status`` is the contract's status for it (section 2, from the table here); the API
    (:mod:`credits.api`) writes it as JSON, the form (:mod:`credits.views`) as a message."""

    outcome: Result
    status: int
    code: str = ""
    message: str = ""
    attempt: str | None = None
    amount_cents: int | None = None  # the top-up's own on success; the earlier one's in earlier_*
    balance: dict[str, float] | None = None
    url: str | None = None
    retry_after: str | None = None
    replayed: bool = False  # the stored answer of the first request with this key

    @property
    def succeeded(self) -> bool:
        return self.outcome == Result.SUCCEEDED

    def as_body(self) -> dict[str, Any]:
        """The JSON the contract gives it (section 2), also what the audit keeps for replays."""
        if self.succeeded:
            body: dict[str, Any] = {"ok": True, "outcome": self.outcome, "amountCents": self.amount_cents}
        else:
            body = {"error": self.message, "code": self.code, "outcome": self.outcome}
            if self.amount_cents is not None:
                body["amountCents"] = self.amount_cents
        if self.attempt is not None:
            body["attempt"] = self.attempt
        if self.balance is not None:
            body["balance"] = self.balance
        if self.url:
            body["url"] = self.url
        return body

    @classmethod
    def from_stored(cls, status: int, body: dict[str, Any], fallback: Result, *, replayed: bool = True) -> TopupResult:
        """A result again from what the audit kept (:meth:`as_body` and ``status``); ``fallback``
        is the outcome of an answer kept before answers said it."""
        outcome = body.get("outcome")
        return cls(
            outcome=Result(outcome) if isinstance(outcome, str) and outcome in set(Result) else fallback,
            status=status,
            code=str(body.get("code", "")),
            message=str(body.get("error", "")),
            attempt=body.get("attempt"),
            amount_cents=body.get("amountCents"),
            balance=body.get("balance"),
            url=body.get("url"),
            replayed=replayed,
        )


def refusal(status: int, code: Code, message: str, outcome: Result = Result.REFUSED, **fields: Any) -> TopupResult:
    """A top-up stopped before (or instead of) its landing call."""
    return TopupResult(outcome, status, code, str(message), **fields)


@dataclass(frozen=True)
class Outcome:
    audit: Status
    http_status: int
    code: str = ""
    message: str = ""
    url: str | None = None
    retry_after: str | None = None
    balance: dict[str, float] | None = None

    @property
    def is_definite(self) -> bool:
        return self.audit in (Status.SUCCEEDED, Status.DECLINED)


def outcome_of_response(response: LandingResponse, conf: CreditsSettings) -> Outcome:
    """Map one answer of the landing to what the browser is told and what the audit says."""
    status, data = response.status, response.data
    landing = data if isinstance(data, dict) else {}
    if 200 <= status < 300:
        if response.is_json_object:
            return Outcome(Status.SUCCEEDED, 200, balance=parse_balance(data))
        # A 2xx that is not JSON may have charged: record it as unknown, never as an error.
        return Outcome(Status.UNKNOWN, 502, Code.UPSTREAM_ERROR, msg_bad_answer_unknown())
    if status in DECLINE_STATUSES:
        return Outcome(
            Status.DECLINED,
            status,
            _landing_code(landing.get("code")) or Code.UPSTREAM_REJECTED,
            _landing_sentence(landing.get("error"), conf) or msg_declined(),
            url=same_origin_url(landing.get("url"), conf),
        )
    if status in (401, 403):
        return Outcome(Status.ERROR, 502, Code.UPSTREAM_AUTH, msg_misconfigured())
    if status == 429:
        retry_after = _retry_after(response.retry_after)
        return Outcome(Status.DECLINED, 429, Code.RATE_LIMITED, msg_landing_busy(retry_after), retry_after=retry_after)
    return Outcome(Status.ERROR, 502, Code.UPSTREAM_ERROR, msg_upstream_error())


def outcome_of_failure(exc: LandingError) -> Outcome:
    """Map a landing call that got no answer."""
    if isinstance(exc, LandingNotConfigured):
        return Outcome(Status.ERROR, 503, Code.NOT_CONFIGURED, msg_not_configured())
    if isinstance(exc, LandingBusy):
        return Outcome(Status.ERROR, 503, Code.BUSY, msg_busy())
    if isinstance(exc, LandingUnreachable):
        return Outcome(Status.ERROR, 502, Code.UPSTREAM_UNREACHABLE, msg_unreachable())
    if isinstance(exc, LandingTimeout):
        return Outcome(Status.UNKNOWN, 504, Code.UPSTREAM_TIMEOUT, msg_timeout())
    return Outcome(Status.UNKNOWN, 502, Code.UPSTREAM_ERROR, msg_bad_answer_unknown())


def settled_outcome(response: LandingResponse, conf: CreditsSettings) -> Outcome | None:
    """The outcome a re-sent attempt proves, or None while the landing has not said for certain.

    The landing answers a repeated ``Idempotency-Key`` as it answered the first request, so a
    success or a decline settles the attempt. A 409 (the first request is still being
    processed there), a 429, an error or a refused token says nothing about the first request.
    """
    outcome = outcome_of_response(response, conf)
    if not outcome.is_definite or response.status in (409, 429):
        return None
    return outcome


def _landing_sentence(value: object, conf: CreditsSettings) -> str:
    if not isinstance(value, str):
        return ""
    text = " ".join(redact_token(value, conf.AUTH_TOKEN).split())
    return text if len(text) <= MAX_LANDING_ERROR else text[: MAX_LANDING_ERROR - 1] + "…"


def _landing_code(value: object) -> str:
    return value if isinstance(value, str) and LANDING_CODE_PATTERN.fullmatch(value) else ""


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        return None
    return parts.scheme, parts.hostname.lower(), port


def same_origin_url(value: object, conf: CreditsSettings) -> str | None:
    """The landing's ``url`` rebuilt from its parsed parts when it is on the landing's own
    origin, else None. Backslashes, user info, control characters and anything the token
    appears in are refused outright, since browsers and parsers read those differently."""
    if not isinstance(value, str) or len(value) > 2000 or redact_token(value, conf.AUTH_TOKEN) != value:
        return None
    if "\\" in value or any(unicodedata.category(ch)[0] in "CZ" and ch != " " for ch in value) or " " in value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        return None
    origin = _origin(value)
    if origin is None or origin != _origin(conf.landing_url):
        return None
    scheme, host, port = origin
    default_port = {"http": 80, "https": 443}[scheme]
    host = f"[{host}]" if ":" in host else host
    netloc = host if port == default_port else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, parts.fragment))


def _retry_after(value: str | None) -> str | None:
    return value if value is not None and value.strip().isdigit() else None
