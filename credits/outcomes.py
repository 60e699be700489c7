"""The outcome table (docs/contract.md section 2), written once: pure, no database.

A landing answer or a failure to get one goes in; what the audit records and what the
browser is told come out. :func:`settled_outcome` is the same table read by settlement,
which only accepts an answer that says for certain what happened to the first request.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from . import client
from .balance import parse_balance
from .conf import CreditsSettings
from .models import UNSETTLED, Status, format_dollars

LANDING_CODE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
DECLINE_STATUSES = frozenset({400, 402, 404, 409, 422})
MAX_LANDING_ERROR = 300


@dataclass(frozen=True)
class Answer:
    """What the browser gets: an HTTP status, a JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Refused(Exception):
    """The request stops here with ``answer``; raised where the rule lives, caught once."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.body.get("code", answer.status))
        self.answer = answer


def error(status: int, code: str, message: str, **extra: Any) -> Answer:
    return Answer(status, {"error": str(message), "code": code, **extra})


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


def outcome_of_response(response: client.LandingResponse, conf: CreditsSettings) -> Outcome:
    """Map one answer of the landing to what the browser is told and what the audit says."""
    status, data = response.status, response.data
    landing = data if isinstance(data, dict) else {}
    if 200 <= status < 300:
        if response.is_json_object:
            return Outcome(Status.SUCCEEDED, 200, balance=parse_balance(data))
        # A 2xx that is not JSON may have charged: record it as unknown, never as an error.
        return Outcome(Status.UNKNOWN, 502, "upstream_error", msg_bad_answer_unknown())
    if status in DECLINE_STATUSES:
        return Outcome(
            Status.DECLINED,
            status,
            _landing_code(landing.get("code")) or "upstream_rejected",
            _landing_sentence(landing.get("error")) or _("The billing service declined this top-up."),
            url=same_origin_url(landing.get("url"), conf),
        )
    if status in (401, 403):
        return Outcome(Status.ERROR, 502, "upstream_auth", msg_misconfigured())
    if status == 429:
        retry_after = _retry_after(response.retry_after)
        return Outcome(Status.DECLINED, 429, "rate_limited", msg_landing_busy(retry_after), retry_after=retry_after)
    return Outcome(
        Status.ERROR,
        502,
        "upstream_error",
        _("The billing service had a problem and did not add the credits. Please try again in a moment."),
    )


def outcome_of_failure(exc: client.LandingError) -> Outcome:
    """Map a landing call that got no answer."""
    if isinstance(exc, client.LandingNotConfigured):
        return Outcome(Status.ERROR, 503, "not_configured", msg_not_configured())
    if isinstance(exc, client.LandingBusy):
        return Outcome(Status.ERROR, 503, "busy", msg_busy())
    if isinstance(exc, client.LandingUnreachable):
        return Outcome(
            Status.ERROR,
            502,
            "upstream_unreachable",
            _("The billing service could not be reached, so nothing was charged. Please try again in a moment."),
        )
    if isinstance(exc, client.LandingTimeout):
        return Outcome(
            Status.UNKNOWN,
            504,
            "upstream_timeout",
            _(
                "The billing service did not answer in time, so we do not know yet whether the credits "
                "were added. Check your balance before trying again."
            ),
        )
    return Outcome(Status.UNKNOWN, 502, "upstream_error", msg_bad_answer_unknown())


def settled_outcome(response: client.LandingResponse, conf: CreditsSettings) -> Outcome | None:
    """The outcome a re-sent attempt proves, or None while the landing has not said for certain.

    The landing answers a repeated ``Idempotency-Key`` as it answered the first request, so a
    success or a decline settles the attempt. A 409 (the first request is still being
    processed there), a 429, an error or a refused token says nothing about the first request.
    """
    outcome = outcome_of_response(response, conf)
    if not outcome.is_definite or response.status in (409, 429):
        return None
    return outcome


def msg_busy() -> str:
    return _(
        "Too many requests are waiting for the billing service right now, so this one was not sent and "
        "nothing was charged. Please try again in a moment."
    )


# Where trying again cannot help, the sentence says so and who can fix it.
def msg_not_configured() -> str:
    return _(
        "Top-ups are not set up on this site yet, so nothing was charged. An administrator of this site "
        "needs to set them up; trying again will not help until then."
    )


def msg_misconfigured() -> str:
    return _(
        "Top-ups are misconfigured on this site: the billing service refused the site's credentials, so "
        "nothing was charged. An administrator of this site needs to fix it; trying again will not help "
        "until then."
    )


def msg_landing_busy(retry_after: str | None) -> str:
    """The landing's 429: nothing was charged; how long to wait, from ``Retry-After`` when given."""
    busy = _("The billing service is busy with this team's charges, so nothing was charged.")
    if retry_after is None:
        return busy + " " + _("Try again in a few minutes.")
    return busy + " " + _("Try again in %(wait)s.") % {"wait": wait_text(int(retry_after))}


def wait_text(seconds: int) -> str:
    """A wait a person reads: "30 seconds", "2 minutes", "3 hours" (rounded up)."""
    if seconds < 60:
        count = max(1, seconds)
        return ngettext("%(count)d second", "%(count)d seconds", count) % {"count": count}
    if seconds < 3600:
        count = -(-seconds // 60)
        return ngettext("%(count)d minute", "%(count)d minutes", count) % {"count": count}
    count = -(-seconds // 3600)
    return ngettext("%(count)d hour", "%(count)d hours", count) % {"count": count}


def status_text(status: str, code: str = "") -> str:
    """The label of an attempt in the recent top-ups: what happened, by its status and code."""
    if status in UNSETTLED:
        return _("Checking…")
    if status == Status.DECLINED:
        labels = {
            "rate_limited": _("Not charged: billing service busy"),
            "no_card": _("Not charged: no card saved"),
            "requires_action": _("Not charged: the payment needs confirming"),
        }
        return labels.get(code) or str(Status.DECLINED.label)
    if status == Status.ERROR and code in ("upstream_auth", "not_configured"):
        return _("Not charged: top-ups are not set up correctly")
    return str(Status(status).label)


def msg_not_sent() -> str:
    return _(
        "The site could not record this top-up, so it was not sent and nothing was charged. "
        "Please try again in a moment."
    )


def msg_not_recorded() -> str:
    return _(
        "The top-up was sent, but the site could not record the answer, so we do not know yet whether "
        "the credits were added. Check your balance before trying again."
    )


def msg_bad_answer_unknown() -> str:
    return _(
        "The billing service gave no usable answer, so we do not know yet whether the credits were "
        "added. Check your balance before trying again."
    )


def msg_earlier_succeeded(amount_cents: int) -> str:
    return _("Your earlier %(amount)s top-up went through, so nothing more was charged.") % {
        "amount": format_dollars(amount_cents)
    }


def msg_still_processing(amount_cents: int) -> str:
    """What a page loaded while the user's top-up is in flight or unsettled says of it."""
    return _("Your %(amount)s top-up is still being processed.") % {"amount": format_dollars(amount_cents)}


def msg_earlier_in_progress(amount_cents: int) -> str:
    return msg_still_processing(amount_cents) + " " + _("Nothing new was charged; its result shows here in a moment.")


def msg_unsettled(amount_cents: int) -> str:
    return _(
        "We still do not know whether your earlier %(amount)s top-up went through, so nothing new was "
        "charged. We keep checking with the billing service; look at your recent top-ups in a moment."
    ) % {"amount": format_dollars(amount_cents)}


def _landing_sentence(value: object) -> str:
    if not isinstance(value, str):
        return ""
    text = " ".join(client.redact(value).split())
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
    if not isinstance(value, str) or len(value) > 2000 or client.redact(value) != value:
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
