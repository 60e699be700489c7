"""The flow of one top-up.

validate → claim ``(user, Idempotency-Key)`` in one short transaction → call the landing
outside any transaction → map its answer by one table → finish the audit row → signal.
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from . import balance as balances
from . import client
from .conf import CreditsSettings, get_settings
from .models import Source, Status, TopupAttempt, format_dollars
from .signals import topup_failed, topup_succeeded

logger = logging.getLogger("credits")

KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
LANDING_CODE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
DECLINE_STATUSES = frozenset({400, 402, 404, 409, 422})
MAX_LANDING_ERROR = 300


@dataclass(frozen=True)
class Answer:
    """What the browser gets: an HTTP status, a JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, code: str, message: str, **extra: Any) -> Answer:
    return Answer(status, {"error": str(message), "code": code, **extra})


def is_valid_key(key: str) -> bool:
    return KEY_PATTERN.fullmatch(key) is not None


def new_upstream_key() -> str:
    """A key for the landing, made per claim: two users' keys, or a key reused after its
    window, never meet there."""
    return f"reef-{uuid.uuid4().hex}"


# --- The outcome table (CONTRACT.md section 2) -----------------------------------------


@dataclass(frozen=True)
class Outcome:
    audit: Status
    http_status: int
    code: str = ""
    message: str = ""
    url: str | None = None
    retry_after: str | None = None
    balance: dict[str, float] | None = None


def outcome_of_response(response: client.LandingResponse, conf: CreditsSettings) -> Outcome:
    """Map one answer of the landing to what the browser is told and what the audit says."""
    status, data = response.status, response.data
    if 200 <= status < 300:
        if response.is_json_object:
            return Outcome(Status.SUCCEEDED, 200, balance=balances.parse_balance(data))
        # A 2xx that is not JSON may have charged: record it as unknown, never as an error.
        return Outcome(Status.UNKNOWN, 502, "upstream_error", _msg_bad_answer_unknown())
    if status in DECLINE_STATUSES:
        landing = data if isinstance(data, dict) else {}
        return Outcome(
            Status.DECLINED,
            status,
            _landing_code(landing.get("code")) or "upstream_rejected",
            _landing_sentence(landing.get("error")) or _("The billing service declined this top-up."),
            url=_same_origin_url(landing.get("url"), conf),
        )
    if status in (401, 403):
        return Outcome(
            Status.ERROR,
            502,
            "upstream_auth",
            _(
                "Top-ups are misconfigured on this site: the billing service refused the site's "
                "credentials. Nothing was charged. Please tell the site's administrator."
            ),
        )
    if status == 429:
        landing = data if isinstance(data, dict) else {}
        return Outcome(
            Status.DECLINED,
            429,
            "rate_limited",
            _landing_sentence(landing.get("error")) or _("Too many top-ups for now. Please try again later."),
            retry_after=_retry_after(response.retry_after),
        )
    return Outcome(
        Status.ERROR,
        502,
        "upstream_error",
        _("The billing service had a problem and did not add the credits. Please try again in a moment."),
    )


def outcome_of_failure(exc: client.LandingError) -> Outcome:
    """Map a landing call that got no answer."""
    if isinstance(exc, client.LandingNotConfigured):
        return Outcome(Status.ERROR, 503, "not_configured", _msg_not_configured())
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
                "The billing service did not answer in time, so we do not know whether the credits "
                "were added. Check your balance before trying again."
            ),
        )
    return Outcome(Status.UNKNOWN, 502, "upstream_error", _msg_bad_answer_unknown())


def _msg_not_configured() -> str:
    return _("Top-ups are not set up on this site yet. Please tell the site's administrator.")


def _msg_bad_answer_unknown() -> str:
    return _(
        "The billing service gave no usable answer, so we do not know whether the credits were "
        "added. Check your balance before trying again."
    )


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


def _same_origin_url(value: object, conf: CreditsSettings) -> str | None:
    if not isinstance(value, str) or len(value) > 2000 or client.redact(value) != value:
        return None
    origin = _origin(value)
    return value if origin is not None and origin == _origin(conf.landing_url) else None


def _retry_after(value: str | None) -> str | None:
    return value if value is not None and value.strip().isdigit() else None


# --- The claim ------------------------------------------------------------------------


def _refusal_for_limits(user: AbstractBaseUser, amount_cents: int, conf: CreditsSettings) -> Answer | None:
    """A 429 when this attempt would pass the hourly count or the daily sum, else None."""
    now = timezone.now()
    counted = TopupAttempt.objects.filter(user_id=user.pk).exclude(status=Status.REFUSED)
    hour = counted.filter(created_at__gte=now - timedelta(hours=1))
    if hour.count() >= conf.MAX_ATTEMPTS_PER_HOUR:
        oldest = hour.order_by("created_at").values_list("created_at", flat=True).first()
        wait = _seconds_until(oldest, timedelta(hours=1), now)
        return _rate_limited(
            _("You have reached the limit of %(count)d top-ups an hour.") % {"count": conf.MAX_ATTEMPTS_PER_HOUR},
            wait,
        )
    # Dollars for the day: each intended top-up (one key) counts once, retries included.
    day = counted.filter(created_at__gte=now - timedelta(days=1))
    per_key = day.values("idempotency_key").annotate(amount=Max("amount_cents"))
    if sum(row["amount"] for row in per_key) + amount_cents > conf.MAX_CENTS_PER_DAY:
        oldest = day.order_by("created_at").values_list("created_at", flat=True).first()
        wait = _seconds_until(oldest, timedelta(days=1), now)
        return _rate_limited(
            _("This top-up would pass the limit of %(amount)s a day.")
            % {"amount": format_dollars(conf.MAX_CENTS_PER_DAY)},
            wait,
        )
    return None


def _seconds_until(oldest: datetime | None, window: timedelta, now: datetime) -> int:
    if oldest is None:
        return 1
    return max(1, math.ceil((oldest + window - now).total_seconds()))


def _rate_limited(sentence: str, wait: int) -> Answer:
    minutes = max(1, math.ceil(wait / 60))
    message = sentence + " " + _("Please try again in %(minutes)d min.") % {"minutes": minutes}
    return Answer(429, {"error": message, "code": "rate_limited"}, {"Retry-After": str(wait)})


def _replay(attempt: TopupAttempt) -> Answer:
    assert attempt.response_status is not None and attempt.response_body is not None
    return Answer(attempt.response_status, dict(attempt.response_body), {"Idempotent-Replayed": "true"})


def _claim(
    user: AbstractBaseUser, key: str, amount_cents: int, source: str, conf: CreditsSettings
) -> TopupAttempt | Answer:
    """A new pending row holding the key, or the answer that the existing claim implies."""
    now = timezone.now()
    window = timedelta(seconds=conf.IDEMPOTENCY_WINDOW_SECONDS)
    with transaction.atomic():
        # Serialise one user's claims (on databases with row locks) so the limits hold
        # across worker processes; the unique constraint is the last word either way.
        get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk").first()
        same_key = TopupAttempt.objects.filter(user_id=user.pk, idempotency_key=key)
        live = same_key.filter(key_live=True).first()
        if live is not None and live.created_at < now - window:
            TopupAttempt.objects.filter(pk=live.pk).update(key_live=False)
            live = None
        if live is not None:
            if live.amount_cents != amount_cents:
                return _mismatch()
            if live.status == Status.PENDING:
                return error(
                    409,
                    "in_progress",
                    _("This top-up is still being processed. Wait a moment, then check your balance."),
                    attempt=str(live.pk),
                )
            return _replay(live)
        recent = same_key.filter(created_at__gte=now - window)
        if recent.exclude(amount_cents=amount_cents).exists():
            return _mismatch()
        # A retry of an error or unknown outcome goes upstream under the first try's key.
        previous = recent.exclude(status=Status.REFUSED).order_by("-created_at").first()
        refusal = _refusal_for_limits(user, amount_cents, conf)
        if refusal is not None:
            TopupAttempt.objects.create(
                user_id=user.pk,
                amount_cents=amount_cents,
                source=source,
                idempotency_key=key,
                key_live=False,
                status=Status.REFUSED,
                error_code="rate_limited",
                error_message=refusal.body["error"],
                response_status=429,
                finished_at=now,
            )
            return refusal
        return TopupAttempt.objects.create(
            user_id=user.pk,
            amount_cents=amount_cents,
            source=source,
            idempotency_key=key,
            upstream_key=previous.upstream_key if previous else new_upstream_key(),
        )


def _mismatch() -> Answer:
    return error(
        422,
        "idempotency_mismatch",
        _("This Idempotency-Key was already used for a different amount. Use a new key for a new top-up."),
    )


# --- The whole flow -------------------------------------------------------------------


def request_topup(
    user: AbstractBaseUser, amount_cents: int, *, key: str | None = None, source: str = Source.API
) -> Answer:
    """Top up ``amount_cents`` (already validated) for ``user``; one charge per key at most."""
    conf = get_settings()
    key = key or uuid.uuid4().hex
    if source not in Source.values:
        source = Source.API
    if not conf.AUTH_TOKEN:
        attempt = TopupAttempt.objects.create(
            user_id=user.pk, amount_cents=amount_cents, source=source, idempotency_key=key, key_live=False
        )
        return _finish(attempt, outcome_of_failure(client.LandingNotConfigured()), None)
    try:
        claimed = _claim(user, key, amount_cents, source, conf)
    except IntegrityError:
        # Another request took the key between our read and our insert: answer as its claim does.
        claimed = _claim(user, key, amount_cents, source, conf)
    if isinstance(claimed, Answer):
        return claimed
    attempt = claimed
    started = time.monotonic()
    landing_status = None
    try:
        response = client.topup(amount_cents, attempt.upstream_key)
        landing_status = response.status
        outcome = outcome_of_response(response, conf)
    except client.LandingError as exc:
        outcome = outcome_of_failure(exc)
    except Exception:
        logger.exception("top-up %s: unexpected failure while calling the landing", attempt.pk)
        outcome = Outcome(Status.UNKNOWN, 502, "upstream_error", _msg_bad_answer_unknown())
    duration_ms = round((time.monotonic() - started) * 1000)
    return _finish(attempt, outcome, landing_status, duration_ms)


def _finish(
    attempt: TopupAttempt, outcome: Outcome, landing_status: int | None, duration_ms: int | None = None
) -> Answer:
    definite = outcome.audit in (Status.SUCCEEDED, Status.DECLINED)
    if outcome.audit == Status.SUCCEEDED:
        body: dict[str, Any] = {"ok": True, "amountCents": attempt.amount_cents, "attempt": str(attempt.pk)}
        if outcome.balance is not None:
            body["balance"] = outcome.balance
    else:
        body = {"error": outcome.message, "code": outcome.code, "attempt": str(attempt.pk)}
        if outcome.url:
            body["url"] = outcome.url
    headers = {"Retry-After": outcome.retry_after} if outcome.retry_after else {}
    finished = {
        "status": outcome.audit,
        "key_live": definite,
        "landing_status": landing_status,
        "error_code": outcome.code,
        "error_message": outcome.message[:500],
        "response_status": outcome.http_status,
        "response_body": body,
        "duration_ms": duration_ms,
        "finished_at": timezone.now(),
    }
    for name, value in finished.items():
        setattr(attempt, name, value)
    attempt.save(update_fields=list(finished))
    logger.log(
        logging.INFO if outcome.audit == Status.SUCCEEDED else logging.WARNING,
        "top-up %s: user=%s amount_cents=%s source=%s status=%s landing_status=%s code=%s duration_ms=%s",
        attempt.pk,
        attempt.user_id,
        attempt.amount_cents,
        attempt.source,
        attempt.status,
        landing_status,
        outcome.code or "-",
        duration_ms,
    )
    if outcome.audit == Status.SUCCEEDED:
        balances.remember_balance(outcome.balance)
        results = topup_succeeded.send_robust(TopupAttempt, attempt=attempt, balance=outcome.balance)
    else:
        results = topup_failed.send_robust(TopupAttempt, attempt=attempt)
    for receiver, result in results:
        if isinstance(result, Exception):
            logger.error("top-up %s: signal receiver %r failed", attempt.pk, receiver, exc_info=result)
    return Answer(outcome.http_status, body, headers)
