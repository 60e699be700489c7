"""The flow of one top-up.

validate (the views) → claim ``(user, Idempotency-Key)`` in one short transaction (first
settling the user's earlier unknown outcomes, if its read finds any, then claiming again)
→ call the landing outside any transaction → map its answer by the outcome table → write
it onto the attempt → signal.
A retry of an attempt whose outcome is not known is that attempt's settlement.

:func:`arequest_topup` is the flow for async views: the database work runs in a thread,
the wait for the landing holds none. :func:`request_topup` is the same flow, blocking.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser

from . import claims, client, settlement
from .codes import Code, Result, SettledBy, Source, Status
from .conf import get_settings
from .db import give_back
from .exceptions import LandingError, LandingNotConfigured
from .models import TopupAttempt
from .outcomes import Outcome, TopupResult, outcome_of_failure, outcome_of_response, refusal
from .words import msg_bad_answer_unknown, msg_not_recorded, msg_not_sent

logger = logging.getLogger("credits")


def request_topup(
    user: AbstractBaseUser, amount_cents: int, *, key: str | None = None, source: str = Source.API
) -> TopupResult:
    """Top up ``amount_cents`` (already validated) for ``user``; one charge per intended top-up at most."""
    begun = _unsent_on_failure(_begin, user, amount_cents, key, source)
    if isinstance(begun, TopupResult):
        return begun
    started = time.monotonic()
    try:
        outcome, landing_status = _outcome(client.topup(begun.amount_cents, begun.upstream_key))
    except Exception as exc:
        outcome, landing_status = _failure(begun, exc), None
    return _recorded(begun, outcome, landing_status, _ms_since(started))


async def arequest_topup(
    user: AbstractBaseUser, amount_cents: int, *, key: str | None = None, source: str = Source.API
) -> TopupResult:
    """:func:`request_topup` for async views."""
    begun = await sync_to_async(_unsent_on_failure)(_begin_then_give_back, user, amount_cents, key, source)
    if isinstance(begun, TopupResult):
        return begun
    started = time.monotonic()
    try:
        outcome, landing_status = _outcome(await client.atopup(begun.amount_cents, begun.upstream_key))
    except Exception as exc:
        outcome, landing_status = _failure(begun, exc), None
    return await sync_to_async(_recorded)(begun, outcome, landing_status, _ms_since(started))


def _begin(user: AbstractBaseUser, amount_cents: int, key: str | None, source: str) -> TopupAttempt | TopupResult:
    """Everything before the landing call: a freshly claimed attempt to send, or the answer."""
    conf = get_settings()
    key = key or uuid.uuid4().hex
    if source not in Source.values:
        source = Source.API
    if not conf.AUTH_TOKEN:
        attempt = claims.unsent_attempt(user, key, amount_cents, source)
        return settlement.record(attempt, outcome_of_failure(LandingNotConfigured()), None)
    claimed = claims.claim(user, key, amount_cents, source, conf, settle_first=True)
    if claimed is claims.SETTLE_FIRST:
        stop = settlement.settle_earlier(user, key, conf)  # outside the claim's transaction: it calls the landing
        if stop is not None:
            return stop
        claimed = claims.claim(user, key, amount_cents, source, conf, settle_first=False)
    if not isinstance(claimed, claims.Claim):
        assert isinstance(claimed, TopupResult)  # SETTLE_FIRST only comes when asked for
        return claimed
    if not claimed.is_new:
        return settlement.answer_of(settlement.settle(claimed.attempt, SettledBy.RETRY))
    return claimed.attempt


def _begin_then_give_back(
    user: AbstractBaseUser, amount_cents: int, key: str | None, source: str
) -> TopupAttempt | TopupResult:
    """:func:`_begin`, then the connection goes back to the pool: the wait on the landing
    that follows holds none (one trip to the request's thread for both)."""
    try:
        return _begin(user, amount_cents, key, source)
    finally:
        try:
            give_back()
        except Exception:  # a claim already made stands: its top-up is sent as usual
            logger.warning("the database connection could not be given back before the landing call", exc_info=True)


def _unsent_on_failure(
    begin: Callable[[AbstractBaseUser, int, str | None, str], TopupAttempt | TopupResult],
    user: AbstractBaseUser,
    amount_cents: int,
    key: str | None,
    source: str,
) -> TopupAttempt | TopupResult:
    """``begin``, or, when it fails (the database is down, say), the answer that says so: the
    new top-up was not sent, so nothing was charged for it."""
    try:
        return begin(user, amount_cents, key, source)
    except Exception:
        logger.exception("top-up by user %s: failed before it was sent; nothing was charged", user.pk)
        return refusal(503, Code.UNAVAILABLE, msg_not_sent(), Result.ERROR)


def _recorded(attempt: TopupAttempt, outcome: Outcome, landing_status: int | None, duration_ms: int) -> TopupResult:
    """:func:`credits.settlement.record`; when the outcome cannot be written, the attempt stays
    ``pending`` (settlement finds its outcome) and the user is told it is not known yet."""
    try:
        return settlement.record(attempt, outcome, landing_status, duration_ms)
    except Exception:
        logger.exception("top-up %s: sent, but its outcome (%s) could not be recorded", attempt.pk, outcome.audit)
        return refusal(502, Code.NOT_RECORDED, msg_not_recorded(), Result.UNKNOWN, attempt=str(attempt.pk))


def _outcome(response: client.LandingResponse) -> tuple[Outcome, int]:
    return outcome_of_response(response, get_settings()), response.status


def _failure(attempt: TopupAttempt, exc: Exception) -> Outcome:
    if isinstance(exc, LandingError):
        return outcome_of_failure(exc)
    logger.exception("top-up %s: unexpected failure while calling the landing", attempt.pk, exc_info=exc)
    return Outcome(Status.UNKNOWN, 502, Code.UPSTREAM_ERROR, msg_bad_answer_unknown())


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
