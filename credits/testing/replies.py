"""What the sandbox landing answers: a :class:`Reply` (no HTTP here), and the canned answers of
its modes.

A mode either declines (an answer that is stored under the request's ``Idempotency-Key``,
as a real landing stores a decline), refuses without charging or storing anything, or
charges; see :mod:`credits.testing.modes`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .statefile import Answer


@dataclass(frozen=True)
class Reply:
    """One answer: ``body`` is a JSON object, or raw bytes of ``content_type``."""

    status: int = 200
    body: dict[str, Any] | bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to hold it (after any charge, as a slow bank would)
    hang_up: bool = False  # close the connection without an answer (after ``delay``)
    after: Callable[[], None] | None = None  # to run once it is answered, or hung up

    @classmethod
    def stored(cls, answer: Answer, delay: float = 0.0) -> Reply:
        status, body, _amount = answer
        return cls(status, body, delay=delay)


NOT_FOUND = Reply(404, {"error": "Not found.", "code": "not_found"})
UNAUTHORIZED = Reply(401, {"error": "Invalid or missing token.", "code": "unauthorized"})
CONTROL_REFUSED = Reply(403, {"error": "The sandbox's control endpoints answer only on loopback.", "code": "forbidden"})
CONTROL_FROM_A_PAGE = Reply(
    403,
    {
        "error": "The sandbox's control endpoints do not answer web pages (the request had an Origin or a "
        "cross-site Sec-Fetch-Site header). Use curl or a script on this machine.",
        "code": "cross_origin",
    },
)
CONTROL_NOT_JSON = Reply(
    415,
    {
        "error": "Send the changes as a JSON object with Content-Type: application/json "
        """(curl -H 'Content-Type: application/json' -d '{"next": "decline"}'). Nothing was changed.""",
        "code": "unsupported_media_type",
    },
)
CONTROL_NOT_AN_OBJECT = Reply(
    400,
    {"error": 'The body must be a JSON object such as {"next": "decline"}. Nothing was changed.', "code": "invalid"},
)
# The billing page (``GET /billing``, where a decline's link leads): what it stands for, and a link
# back to the site, which runs on another port. ``?back=`` names the page to go back to, but only
# an http(s) address on this machine is taken (no open redirect for anyone's link); otherwise the
# link goes to the demo's chat as `make run` serves it.
SITE = "http://127.0.0.1:8000/ui/"
BILLING_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox billing</title>
</head>
<body>
<h1>Sandbox billing</h1>
<p>This is the sandbox's stand-in for the billing service's page where a real card would be added or
confirmed. No card is needed here, and no real money moves.</p>
<p>How the sandbox answers the next top-up (a declined card, a bank asking for a confirmation, no
card saved) is set with its controls: see "Try the failure modes" in the README.</p>
<p><a href="{back}">Back to the site</a></p>
</body>
</html>
"""


def billing_page(query: str) -> Reply:
    """The billing page, its link back to ``?back=`` when that is a page on this machine."""
    return Reply(
        200, BILLING_PAGE.format(back=html.escape(back_to(query), quote=True)).encode(), "text/html; charset=utf-8"
    )


def back_to(query: str) -> str:
    """The ``back`` of a query string when it is one http(s) address on localhost or 127.0.0.1,
    without user info, spaces, control characters or backslashes (which browsers read as
    slashes); else :data:`SITE`."""
    values = parse_qs(query).get("back", [])
    if len(values) != 1 or not re.fullmatch(r"[!-~]+", values[0]) or "\\" in values[0]:
        return SITE
    url = values[0]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number raises ValueError)
    except ValueError:
        return SITE
    if parts.scheme not in ("http", "https") or parts.hostname not in ("localhost", "127.0.0.1"):
        return SITE
    if "@" in parts.netloc:
        return SITE
    return url


NO_CREDITS = Reply(402, {"error": "No credits available.", "code": "no_credits"})
INVALID_SPEND = Reply(400, {"error": "amountCents must be a positive integer.", "code": "invalid_amount"})

# Answers that are not a charge's, with the amount they were asked for (``Answer``s, so stored
# answers and these are alike).
INVALID_TOPUP: Answer = (400, {"error": 'The body must be exactly {"amountCents": N}.', "code": "invalid_request"}, 0)


def key_mismatch(amount: int) -> Answer:
    return 422, {"error": "This Idempotency-Key was used with another amount.", "code": "idempotency_mismatch"}, amount


def in_progress(amount: int) -> Answer:
    return 409, {"error": "A request with this Idempotency-Key is in progress.", "code": "in_progress"}, amount


def invalid_control(error: Exception) -> Reply:
    return Reply(400, {"error": str(error), "code": "invalid"})


def decline(mode: str, origin: str) -> tuple[int, dict[str, Any]] | None:
    """The decline ``mode`` answers with (stored under the key), or None if it does not decline.

    ``origin`` is the sandbox's own URL: its billing page is where the user would fix it."""
    billing = f"{origin}/billing"
    declines: dict[str, tuple[int, dict[str, Any]]] = {
        "decline": (402, {"error": "Your card was declined (sandbox).", "code": "card_declined", "url": billing}),
        "no_card": (402, {"error": "No card is saved for this team.", "code": "no_card", "url": billing}),
        "requires_action": (
            402,
            {"error": "Your bank asks you to confirm this payment.", "code": "requires_action", "url": billing},
        ),
        "rejected": (422, {"error": "This amount cannot be charged.", "code": "amount_rejected"}),
    }
    return declines.get(mode)


def refusal(mode: str, origin: str) -> Reply | None:
    """The answer of a ``mode`` that neither charges nor stores anything, or None for another mode."""
    refusals = {
        "drop": Reply(hang_up=True),
        "unauthorized": Reply(401, {"error": "Token refused.", "code": "unauthorized"}),
        "forbidden": Reply(403, {"error": "Token refused.", "code": "forbidden"}),
        "rate_limited": Reply(
            429,
            {"error": "Too many charges for this team, slow down.", "code": "rate_limited"},
            headers={"Retry-After": "30"},
        ),
        "error": Reply(500, b"<html><body>Internal Server Error</body></html>", "text/html"),
        "redirect": Reply(302, b"", "text/html", {"Location": f"{origin}/login"}),
    }
    return refusals.get(mode)


def charged(mode: str, body: dict[str, Any]) -> Reply:
    """The answer of a ``mode`` that charged, whose answer (stored under the key) is ``body``."""
    if mode == "drop_after_charge":
        return Reply(hang_up=True)
    if mode == "not_json":
        return Reply(200, b"<html><body>OK</body></html>", "text/html")
    return Reply(200, body)
