"""Writing outcomes onto attempts, and settling the ones that were not known at once.

An attempt's outcome is written once it is definite, and only onto an attempt that is not
settled yet (a conditional update), so the first request, a retry, the background worker,
the sweep and the admin can race without writing two outcomes or sending two signals.

Settling re-sends the attempt under its own upstream key: the landing answers a repeated
key as it answered the first request (and charges a request it never received, which is
what the user asked for), so re-sending can never charge twice.

In the background, one chain of tasks (Django's Tasks framework, beside the work it does)
sweeps every ``SETTLE_SWEEP_SECONDS``: :func:`sweep_settlements` queues its own next run
first, then settles every attempt whose ``settle_at`` has come (a claimed attempt's when its
landing call can no longer be running; an unknown one's after its backoff). A try moves the
attempt's ``settle_at`` past the time it could still be running before it calls the landing,
so a worker that dies mid-try (or mid-sweep) leaves an attempt, and a chain, that the next
sweep takes up. The chain is started by ``migrate`` (and by :func:`start_sweeping`); a
schedule row lets only one chain live, however many workers and machines run it. The claim
itself queues nothing: its one INSERT is all a crash needs to leave behind.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, Q
from django.utils import timezone

from . import balance as balances
from . import client
from .codes import UNSETTLED, Code, Result, SettledBy, Status
from .conf import CreditsSettings, get_settings
from .db import chain_next, chain_start, task
from .exceptions import LandingError
from .models import TopupAttempt, unsettled_at
from .outcomes import Outcome, TopupResult, refusal, settled_outcome
from .signals import attempt_flagged, send_robustly, topup_failed, topup_succeeded
from .words import msg_earlier_succeeded, msg_unsettled

logger = logging.getLogger("credits")

EARLIER_AT_ONCE = 5  # how many of a user's unsettled attempts one new top-up settles first
SWEEP_AT_ONCE = 100  # how many due attempts one sweep settles; the next sweep takes the rest


def record(
    attempt: TopupAttempt,
    outcome: Outcome,
    landing_status: int | None,
    duration_ms: int | None = None,
    via: SettledBy | None = None,
) -> TopupResult:
    """Write ``outcome`` onto ``attempt`` (the first answer when ``via`` is None) and tell the host.

    Returns what became of the top-up; if another path settled the attempt first, what it found.
    The audit keeps the answer (``response_status`` and ``response_body``) for replays.
    """
    conf = get_settings()
    now = timezone.now()
    result = _result(attempt, outcome)
    body = result.as_body()
    unknown = outcome.audit == Status.UNKNOWN
    fields: dict[str, Any] = {
        "status": outcome.audit,
        "key_live": outcome.audit != Status.ERROR,  # an error charged nothing: the key is free again
        "landing_status": landing_status,
        "error_code": outcome.code,
        "error_message": outcome.message[:500],
        "response_status": result.status,
        "response_body": body,
        "finished_at": attempt.finished_at or now,
    }
    if via is None:
        fields |= {
            "first_status": outcome.audit,
            "duration_ms": duration_ms,
            "outcome_shown": not unknown,
            "settle_at": now + next_try_in(0, conf) if unknown else None,
        }
    else:
        fields |= {
            "first_status": attempt.first_status or attempt.status,
            "settled_at": now,
            "settled_by": via,
            "settle_at": None,
            "settle_tries": F("settle_tries") + 1,
            "needs_operator": False,
            "outcome_shown": via == SettledBy.RETRY,
        }
    written = TopupAttempt.objects.filter(pk=attempt.pk, status__in=UNSETTLED).update(**fields)
    if not written:  # another path settled it first: its answer stands
        attempt.refresh_from_db()
        return answer_of(attempt)
    if via is None:
        for name, value in fields.items():
            setattr(attempt, name, value)
    else:
        attempt.refresh_from_db()
    _log(attempt, outcome, via)
    _announce(attempt, outcome, settled_later=via is not None)
    return result


def settle(attempt: TopupAttempt, via: SettledBy) -> TopupAttempt:
    """Re-send ``attempt`` under its upstream key and write the answer if it is definite.

    A pending attempt whose landing call may still be running is left alone. Returns the
    attempt as it now stands (settled, or unknown with its next try scheduled).
    """
    conf = get_settings()
    now = timezone.now()
    if attempt.is_settled or (attempt.status == Status.PENDING and attempt.settle_at and attempt.settle_at > now):
        return attempt
    _lease(attempt, now, conf)
    outcome: Outcome | None = None
    landing_status: int | None = None
    try:
        response = client.topup(attempt.amount_cents, attempt.upstream_key)
        landing_status = response.status
        outcome = settled_outcome(response, conf)
    except LandingError as exc:
        logger.warning("top-up %s: settlement try by %s got no answer (%s)", attempt.pk, via, exc)
    except Exception:
        logger.exception("top-up %s: settlement try by %s failed", attempt.pk, via)
    if outcome is not None:
        record(attempt, outcome, landing_status, via=via)
        return attempt
    tries = attempt.settle_tries + 1
    flagged = attempt.created_at <= now - timedelta(seconds=conf.OPERATOR_AFTER_SECONDS)
    TopupAttempt.objects.filter(pk=attempt.pk, status__in=UNSETTLED).update(
        status=Status.UNKNOWN,
        first_status=attempt.first_status or attempt.status,
        landing_status=landing_status if landing_status is not None else attempt.landing_status,
        settle_tries=F("settle_tries") + 1,
        settle_at=now + next_try_in(tries, conf),
        needs_operator=flagged,
        outcome_shown=False,
    )
    newly_flagged = flagged and not attempt.needs_operator
    if newly_flagged:
        logger.error("top-up %s: no definite answer after %d tries; an operator must check it", attempt.pk, tries)
    attempt.refresh_from_db()
    if newly_flagged:
        send_robustly(attempt_flagged, TopupAttempt, attempt=attempt)
    return attempt


def _lease(attempt: TopupAttempt, now: datetime, conf: CreditsSettings) -> None:
    """Before a try is sent: the attempt's next try moves to when this one can no longer be
    running, so the sweeps leave it alone meanwhile, and a worker that dies during the call
    leaves an attempt the next sweep after that time settles; a try that ends writes its own."""
    until = now + timedelta(seconds=conf.TIMEOUT + conf.PENDING_GRACE_SECONDS)
    if TopupAttempt.objects.filter(pk=attempt.pk, status__in=UNSETTLED).update(settle_at=until):
        attempt.settle_at = until


def settle_earlier(user: AbstractBaseUser, key: str, conf: CreditsSettings) -> TopupResult | None:
    """Before a new top-up: settle the user's unsettled attempts (other than this key's own).

    The answer that stops the new top-up: 409 ``unsettled`` while one still has no answer, 409
    ``earlier_topup_succeeded`` when one went through without the user having been told; None
    when the top-up may go on.
    """
    now = timezone.now()
    deadline = time.monotonic() + conf.TIMEOUT
    window = now - timedelta(seconds=conf.IDEMPOTENCY_WINDOW_SECONDS)
    rows = list(
        TopupAttempt.objects.filter(user_id=user.pk)
        .filter(unsettled_at(now) | Q(status=Status.SUCCEEDED, outcome_shown=False, created_at__gte=window))
        .exclude(idempotency_key=key, key_live=True)
        .order_by("created_at")
    )
    untold = [row for row in rows if row.status == Status.SUCCEEDED]
    for attempt in [row for row in rows if not row.is_settled][:EARLIER_AT_ONCE]:
        if time.monotonic() < deadline:
            attempt = settle(attempt, SettledBy.NEXT_TOPUP)
        if not attempt.is_settled:
            return refusal(
                409, Code.UNSETTLED, msg_unsettled(attempt.amount_cents), Result.UNKNOWN, attempt=str(attempt.pk)
            )
        if attempt.status == Status.SUCCEEDED:
            untold.append(attempt)
    if untold:
        TopupAttempt.objects.filter(pk__in=[a.pk for a in untold]).update(outcome_shown=True)
        latest = max(untold, key=lambda a: a.created_at)
        return refusal(
            409,
            Code.EARLIER_TOPUP_SUCCEEDED,
            msg_earlier_succeeded(latest.amount_cents),
            attempt=str(latest.pk),
            amount_cents=latest.amount_cents,
        )
    return None


def answer_of(attempt: TopupAttempt) -> TopupResult:
    """What a retry learns of an attempt: its settled result, or 409 ``unsettled``."""
    if attempt.is_settled and attempt.response_status is not None and attempt.response_body is not None:
        body = dict(attempt.response_body)
        return TopupResult.from_stored(attempt.response_status, body, Result(attempt.status), replayed=False)
    return refusal(409, Code.UNSETTLED, msg_unsettled(attempt.amount_cents), Result.UNKNOWN, attempt=str(attempt.pk))


def settle_due(via: SettledBy = SettledBy.SWEEP, limit: int | None = None) -> Counter[str]:
    """Settle every attempt whose next try is due; how many ended in each status."""
    due = TopupAttempt.objects.due(timezone.now()).order_by("settle_at")
    counts: Counter[str] = Counter()
    for attempt in due[:limit] if limit else due:
        counts[str(settle(attempt, via).status)] += 1
    return counts


def next_try_in(tries: int, conf: CreditsSettings) -> timedelta:
    """The wait before settlement try ``tries + 1``: doubling from the base, capped, with jitter."""
    seconds = min(conf.SETTLE_BACKOFF_MAX_SECONDS, conf.SETTLE_BACKOFF_SECONDS * 2 ** min(tries, 30))
    return timedelta(seconds=seconds * random.uniform(0.8, 1.0))


def _result(attempt: TopupAttempt, outcome: Outcome) -> TopupResult:
    return TopupResult(
        outcome=Result(outcome.audit),
        status=outcome.http_status,
        code=outcome.code,
        message=outcome.message,
        attempt=str(attempt.pk),
        amount_cents=attempt.amount_cents if outcome.audit == Status.SUCCEEDED else None,
        balance=outcome.balance if outcome.audit == Status.SUCCEEDED else None,
        url=outcome.url,
        retry_after=outcome.retry_after,
    )


def _log(attempt: TopupAttempt, outcome: Outcome, via: SettledBy | None) -> None:
    logger.log(
        logging.INFO if outcome.audit in (Status.SUCCEEDED, Status.DECLINED) else logging.WARNING,
        "top-up %s: user=%s amount_cents=%s source=%s status=%s landing_status=%s code=%s duration_ms=%s settled_by=%s",
        attempt.pk,
        attempt.user_id,
        attempt.amount_cents,
        attempt.source,
        attempt.status,
        attempt.landing_status,
        outcome.code or "-",
        attempt.duration_ms,
        via or "-",
    )


def _announce(attempt: TopupAttempt, outcome: Outcome, *, settled_later: bool) -> None:
    """The balance and the signals. The money has moved (or not) already: nothing here may
    fail the answer, so every failure is logged and the user is still told the truth.

    A first answer's balance is the landing's latest. A settled one is the landing's replay of
    the first answer, as old as that: the cached balance is dropped instead (in the shared
    cache, so for every process), and the next reading comes from the landing."""
    if outcome.audit == Status.SUCCEEDED:
        try:
            balances.remember_balance(None if settled_later else outcome.balance)
        except Exception:
            logger.exception("top-up %s: the cached balance could not be updated", attempt.pk)
        send_robustly(topup_succeeded, TopupAttempt, attempt=attempt, balance=outcome.balance)
    else:
        send_robustly(topup_failed, TopupAttempt, attempt=attempt)


# --- In the background ------------------------------------------------------------------------

SWEEP = "credits.settle"  # the schedule row of the sweeping chain


@task()
def sweep_settlements(due: str) -> str:
    """One link of the sweeping chain: if it is still the one due (another chain, or an older
    link, is superseded), queue the next link, then settle every attempt that is due."""
    if not chain_next(sweep_settlements, SWEEP, due, timedelta(seconds=get_settings().SETTLE_SWEEP_SECONDS)):
        return "superseded"
    counts = settle_due(SettledBy.BACKGROUND, limit=SWEEP_AT_ONCE)
    return ", ".join(f"{status} {count}" for status, count in sorted(counts.items())) or "nothing due"


def start_sweeping(using: str = "default", **kwargs: Any) -> bool:
    """Start the sweeping chain unless one lives (its next link is due within a few sweeps);
    connected to ``post_migrate``. Returns whether it started one. With a backend that cannot
    run a task later there is no chain: ``settle_topups`` settles instead (a check warns)."""
    conf = get_settings()
    dead = timedelta(seconds=conf.SETTLE_SWEEP_SECONDS * 3 + conf.TIMEOUT + conf.PENDING_GRACE_SECONDS)
    return chain_start(
        sweep_settlements, SWEEP, dead, using, "the settlement sweep could not be started; migrate starts it again"
    )


@task()
def settle_topup(attempt_id: str, due: str | None = None) -> str:
    """One attempt's settlement, as tasks queued before the sweeping chain name it: settled if
    it is due, else left to the sweeps."""
    attempt = TopupAttempt.objects.filter(pk=attempt_id).first()
    if attempt is None or attempt.is_settled:
        return attempt.status if attempt is not None else "missing"
    if attempt.settle_at is not None and attempt.settle_at > timezone.now():
        return "left to the sweeps"
    return str(settle(attempt, SettledBy.BACKGROUND).status)
