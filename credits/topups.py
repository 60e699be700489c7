"""The flow of one top-up.

validate (the views) → settle the user's earlier unknown outcomes first → claim
``(user, Idempotency-Key)`` in one short transaction → call the landing outside any
transaction → map its answer by the outcome table → write it onto the attempt → signal.
A retry of an attempt whose outcome is not known is that attempt's settlement.
"""

from __future__ import annotations

import logging
import time
import uuid

from django.contrib.auth.models import AbstractBaseUser

from . import claims, client, settlement
from .conf import get_settings
from .models import SettledBy, Source, Status, TopupAttempt
from .outcomes import Answer, Outcome, Refused, msg_bad_answer_unknown, outcome_of_failure, outcome_of_response

logger = logging.getLogger("credits")


def request_topup(
    user: AbstractBaseUser, amount_cents: int, *, key: str | None = None, source: str = Source.API
) -> Answer:
    """Top up ``amount_cents`` (already validated) for ``user``; one charge per intended top-up at most."""
    conf = get_settings()
    key = key or uuid.uuid4().hex
    if source not in Source.values:
        source = Source.API
    if not conf.AUTH_TOKEN:
        attempt = claims.unsent_attempt(user, key, amount_cents, source)
        return settlement.record(attempt, outcome_of_failure(client.LandingNotConfigured()), None)
    try:
        settlement.settle_earlier(user, key, conf)
        claimed = claims.claim(user, key, amount_cents, source, conf)
    except Refused as refused:
        return refused.answer
    if not claimed.is_new:
        return settlement.answer_of(settlement.settle(claimed.attempt, SettledBy.RETRY))
    return _send(claimed.attempt)


def _send(attempt: TopupAttempt) -> Answer:
    """Call the landing for a freshly claimed attempt and write down what came back."""
    conf = get_settings()
    started = time.monotonic()
    landing_status = None
    outcome: Outcome
    try:
        response = client.topup(attempt.amount_cents, attempt.upstream_key)
        landing_status = response.status
        outcome = outcome_of_response(response, conf)
    except client.LandingError as exc:
        outcome = outcome_of_failure(exc)
    except Exception:
        logger.exception("top-up %s: unexpected failure while calling the landing", attempt.pk)
        outcome = Outcome(Status.UNKNOWN, 502, "upstream_error", msg_bad_answer_unknown())
    duration_ms = round((time.monotonic() - started) * 1000)
    return settlement.record(attempt, outcome, landing_status, duration_ms)
