"""Claiming ``(user, Idempotency-Key)``: the short transaction before any landing call.

A claim ends in a new ``pending`` attempt (written, with its settlement scheduled, before
the landing is called), in the key's earlier attempt whose outcome is not known yet (the
retry settles it), in :data:`SETTLE_FIRST` (the user has earlier attempts to settle, or a
success to tell, first: :func:`credits.settlement.settle_earlier`), or in the answer that
stops it: a replay, 409 ``in_progress``, 409 ``earlier_in_progress`` (another of the user's
top-ups is still in flight), 409 ``unsettled``, 422 ``idempotency_mismatch`` or 429
``rate_limited``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from .codes import UNSETTLED, Code, Result, Status
from .conf import CreditsSettings
from .models import TopupAttempt
from .outcomes import TopupResult, refusal
from .wire import is_valid_key, new_upstream_key
from .words import (
    msg_daily_limit,
    msg_earlier_in_progress,
    msg_hourly_limit,
    msg_in_progress,
    msg_mismatch,
    msg_unsettled,
)

__all__ = ["SETTLE_FIRST", "Claim", "claim", "is_valid_key", "replay", "unsent_attempt"]


class _SettleFirst:
    """The user has earlier attempts to settle, or a success to tell, before this top-up; nothing was written."""


SETTLE_FIRST: Final = _SettleFirst()


@dataclass(frozen=True)
class Claim:
    attempt: TopupAttempt
    is_new: bool  # False: the key's earlier attempt, not settled yet; the retry settles it


def claim(
    user: AbstractBaseUser, key: str, amount_cents: int, source: str, conf: CreditsSettings, *, settle_first: bool
) -> Claim | TopupResult | _SettleFirst:
    """Claim the key, or the answer the existing claims imply (a refusal is audited first).

    With ``settle_first``, :data:`SETTLE_FIRST` before anything else when the user has earlier
    attempts to settle first (the same read finds them: no query of its own when there are
    none, as is usual).
    """
    try:
        return _claim(user, key, amount_cents, source, conf, settle_first)
    except IntegrityError:
        # Another request took the key between our read and our insert: answer as its claim does.
        return _claim(user, key, amount_cents, source, conf, settle_first)


def _claim(
    user: AbstractBaseUser, key: str, amount_cents: int, source: str, conf: CreditsSettings, settle_first: bool
) -> Claim | TopupResult | _SettleFirst:
    now = timezone.now()
    window = now - timedelta(seconds=conf.IDEMPOTENCY_WINDOW_SECONDS)
    with transaction.atomic():
        # One read for every rule: the key's rows, the user's last day (the limits) and
        # window (untold successes), and any attempt of theirs whose outcome is not known.
        recent = _read_locked(user, key, min(now - timedelta(days=1), window))
        if settle_first and any(_to_settle_first(row, key, now, window) for row in recent):
            return SETTLE_FIRST  # nothing was written
        rows = sorted((row for row in recent if row.idempotency_key == key), key=lambda row: row.created_at)
        if any(row.amount_cents != amount_cents for row in rows):
            return _mismatch()
        live = next((row for row in rows if row.key_live), None)
        if live is not None:
            existing = _existing(live, now, conf)
            if existing is not None:
                return existing
        earlier = next((row for row in recent if row.is_unsettled_at(now)), None)
        if earlier is not None:
            # Another attempt became unsettled after the settle-first step looked: nothing new goes out.
            return refusal(
                409, Code.UNSETTLED, msg_unsettled(earlier.amount_cents), Result.UNKNOWN, attempt=str(earlier.pk)
            )
        in_flight = next((row for row in recent if row.status == Status.PENDING and row.idempotency_key != key), None)
        if in_flight is not None:
            # One top-up in flight per person: a second tab or a reload waits for the first's
            # answer instead of charging again (decided here, under the user's row lock).
            return refusal(
                409,
                Code.EARLIER_IN_PROGRESS,
                msg_earlier_in_progress(in_flight.amount_cents),
                Result.PENDING,
                attempt=str(in_flight.pk),
                amount_cents=in_flight.amount_cents,
            )
        upstream_key = next((row.upstream_key for row in rows if row.upstream_key), "") or new_upstream_key()
        limited = _limit_refusal(recent, amount_cents, conf, now)
        if limited is not None:
            _record_refusal(user, key, amount_cents, source, upstream_key, limited, now)
            return limited
        attempt = TopupAttempt.objects.create(
            user_id=user.pk,
            amount_cents=amount_cents,
            source=source,
            idempotency_key=key,
            upstream_key=upstream_key,
            settle_at=now + timedelta(seconds=conf.TIMEOUT + conf.PENDING_GRACE_SECONDS),
        )
        return Claim(attempt, is_new=True)


def _read_locked(user: AbstractBaseUser, key: str, since: datetime) -> list[TopupAttempt]:
    """The attempts every rule of the claim reads, with one user's claims serialised, so the
    limits and the one-in-flight and settle-first rules hold across processes and machines.

    SQLite's write lock, taken at BEGIN, serialises claims already: one statement. Elsewhere
    the user's row is locked first, in a statement of its own: joined into the read, the lock
    would be waited for, but under READ COMMITTED the attempts would still be read as they were
    before the wait, without the claim that held it (tests/test_concurrency.py shows it)."""
    if connection.features.has_select_for_update:
        get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk").first()
    return list(
        TopupAttempt.objects.filter(user_id=user.pk)
        .filter(Q(idempotency_key=key) | Q(created_at__gte=since) | Q(status__in=UNSETTLED))
        .order_by()
    )


def _to_settle_first(row: TopupAttempt, key: str, now: datetime, window: datetime) -> bool:
    """Whether ``settle_earlier`` acts on ``row``: another attempt whose outcome is not known,
    or that succeeded unseen by the user within the window (the rule of its query, in hand)."""
    if row.idempotency_key == key and row.key_live:
        return False
    untold = row.status == Status.SUCCEEDED and not row.outcome_shown and row.created_at >= window
    return row.is_unsettled_at(now) or untold


def _existing(live: TopupAttempt, now: datetime, conf: CreditsSettings) -> Claim | TopupResult | None:
    """What the key's live attempt implies; None when its stored answer has expired."""
    if live.is_settled:
        if live.created_at < now - timedelta(seconds=conf.IDEMPOTENCY_WINDOW_SECONDS):
            # No longer replayed: a retry goes upstream again, under the same upstream key.
            TopupAttempt.objects.filter(pk=live.pk).update(key_live=False)
            return None
        if not live.outcome_shown:
            TopupAttempt.objects.filter(pk=live.pk).update(outcome_shown=True)
        return replay(live)
    if live.status == Status.PENDING and live.settle_at is not None and live.settle_at > now:
        return refusal(409, Code.IN_PROGRESS, msg_in_progress(), Result.PENDING, attempt=str(live.pk))
    return Claim(live, is_new=False)


def unsent_attempt(user: AbstractBaseUser, key: str, amount_cents: int, source: str) -> TopupAttempt:
    """A row for a top-up that cannot be sent at all (no token), still under the key's upstream key."""
    earlier = (
        TopupAttempt.objects.filter(user_id=user.pk, idempotency_key=key)
        .exclude(upstream_key="")
        .values_list("upstream_key", flat=True)
        .first()
    )
    return TopupAttempt.objects.create(
        user_id=user.pk,
        amount_cents=amount_cents,
        source=source,
        idempotency_key=key,
        key_live=False,
        upstream_key=earlier or new_upstream_key(),
        settle_at=timezone.now(),
    )


def replay(attempt: TopupAttempt) -> TopupResult:
    """The first request's answer again, as the audit kept it."""
    assert attempt.response_status is not None and attempt.response_body is not None
    return TopupResult.from_stored(attempt.response_status, dict(attempt.response_body), Result(attempt.status))


def _mismatch() -> TopupResult:
    return refusal(422, Code.IDEMPOTENCY_MISMATCH, msg_mismatch())


# --- The limits (counted in the database, so they hold across processes) --------------------


def _limit_refusal(
    recent: list[TopupAttempt], amount_cents: int, conf: CreditsSettings, now: datetime
) -> TopupResult | None:
    """The 429 when this attempt would pass the hourly count or the daily sum, else None.

    ``recent`` holds at least the user's attempts of the last day; refusals do not count.
    """
    day = [row for row in recent if row.created_at >= now - timedelta(days=1) and row.status != Status.REFUSED]
    hour = sorted(row.created_at for row in day if row.created_at >= now - timedelta(hours=1))
    if len(hour) >= conf.MAX_ATTEMPTS_PER_HOUR:
        wait = _seconds_until(hour[0] if hour else None, timedelta(hours=1), now)
        return _rate_limited(msg_hourly_limit(conf.MAX_ATTEMPTS_PER_HOUR, _minutes(wait)), wait)
    # Dollars for the day: each intended top-up (one key) counts once, retries included.
    per_key: dict[str, int] = {}
    for row in day:
        per_key[row.idempotency_key] = max(per_key.get(row.idempotency_key, 0), row.amount_cents)
    if sum(per_key.values()) + amount_cents > conf.MAX_CENTS_PER_DAY:
        wait = _seconds_until(min((row.created_at for row in day), default=None), timedelta(days=1), now)
        return _rate_limited(msg_daily_limit(conf.MAX_CENTS_PER_DAY, _minutes(wait)), wait)
    return None


def _record_refusal(
    user: AbstractBaseUser,
    key: str,
    amount_cents: int,
    source: str,
    upstream_key: str,
    refused: TopupResult,
    now: datetime,
) -> None:
    TopupAttempt.objects.create(
        user_id=user.pk,
        amount_cents=amount_cents,
        source=source,
        idempotency_key=key,
        key_live=False,
        upstream_key=upstream_key,
        status=Status.REFUSED,
        first_status=Status.REFUSED,
        error_code=Code.RATE_LIMITED,
        error_message=refused.message,
        response_status=refused.status,
        response_body=refused.as_body(),
        finished_at=now,
    )


def _seconds_until(oldest: datetime | None, window: timedelta, now: datetime) -> int:
    if oldest is None:
        return 1
    return max(1, math.ceil((oldest + window - now).total_seconds()))


def _minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


def _rate_limited(message: str, wait: int) -> TopupResult:
    return refusal(429, Code.RATE_LIMITED, message, retry_after=str(wait))
