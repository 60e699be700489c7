"""The balance's history: every balance the site reads from the landing, kept as a sample.

Samples come from three places, all through :func:`record_sample`:

- every fresh reading from the landing (the ``balance_read`` signal that
  :mod:`credits.balance` sends; a reading from the cache sends none, so it adds none);
- a top-up's first answer that carries the balance (``topup_succeeded``); a settlement's
  answer is the landing's replay of the first one, as old as that, and is left out;
- the background worker, when nobody has a page open: one chain of tasks
  (:func:`sample_balance`, started by ``migrate`` and by :func:`start_sampling`) reads the
  balance every ``SAMPLE_MINUTES``. ``python manage.py sample_balance`` does one link's work
  once, for a site that runs cron instead of a worker.

At most one sample a minute unless the figures changed: one conditional INSERT (the new row
only if the latest sample is not the same three figures less than a minute older), which also
marks the first sample of each hour (UTC) as ``hourly``, so a request pays one statement for
it. The receivers never raise into the request that read the balance: a failure is logged.

Reading (:func:`history`): the first sample of each hour and the newest, so a month is at most
721 rows however many samples the busiest hours hold (a reading every few seconds while
agents work), and costs the same at a thousand samples or a million.

Retention (:func:`prune`, run by the chain at most once an hour, whichever process runs it):
every sample for 14 days; then the first sample of each hour, the one the reading uses;
nothing past 400 days. Two DELETEs over ranges of ``at``, never a statement a row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connections, router, transaction
from django.dispatch import receiver
from django.utils import timezone

from .balance import cached_balance, read_balance
from .conf import get_settings
from .db import chain_next, chain_start, task
from .exceptions import BalanceUnavailable, LandingBusy, LandingNotConfigured
from .forecast import Sample
from .models import BalanceSample, Schedule, TopupAttempt
from .signals import balance_read, topup_succeeded

__all__ = [
    "BalanceSample",
    "Pruned",
    "Taken",
    "add_samples",
    "as_samples",
    "history",
    "prune",
    "prune_if_due",
    "record_sample",
    "sample_balance",
    "sample_once",
    "start_sampling",
    "take_sample",
]

logger = logging.getLogger("credits")

SAMPLER = "credits.sample"  # the schedule row of the sampling chain
PRUNER = "credits.sample.prune"  # the schedule row of the hourly pruning
SAME_FIGURES_WITHIN = timedelta(minutes=1)  # the same figures again this soon: no new sample
EVERY_SAMPLE_FOR = timedelta(days=14)  # every sample is kept this long
HOURLY_FOR = timedelta(days=400)  # then one an hour, until this old; nothing older
PRUNE_EVERY = timedelta(hours=1)
FIELDS = ("credits", "spend", "remaining")


# --- Recording ---------------------------------------------------------------------------------


def record_sample(balance: dict[str, float], at: datetime | None = None) -> bool:
    """Keep ``balance`` (``{"credits", "spend", "remaining"}``, dollars), read at ``at`` (default
    now), unless the latest sample has the same three figures and is less than a minute older.
    Returns whether a sample was added; raises on a database error.

    On PostgreSQL and SQLite it is one statement (an INSERT ... SELECT ... WHERE NOT EXISTS the
    latest sample with those figures within the minute, ``hourly`` when no earlier sample of
    its hour exists); elsewhere the latest sample and the hour are read first. Two processes
    recording the same figures at the same instant may both add one (neither sees the other's
    row yet): a harmless duplicate, thinned after 14 days.
    """
    at = at or timezone.now()
    figures = tuple(float(balance[name]) for name in FIELDS)
    using = router.db_for_write(BalanceSample)
    with _own_savepoint(using):
        if connections[using].vendor in ("postgresql", "sqlite"):
            return _insert_unless_the_same(using, at, figures)
        return _read_then_insert(using, at, figures)


def _insert_unless_the_same(using: str, at: datetime, figures: tuple[float, ...]) -> bool:
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = {field.name: field for field in BalanceSample._meta.concrete_fields}
    column = {name: quote(str(fields[name].column)) for name in ("at", "hourly", *FIELDS)}

    def value(name: str) -> str:  # typed on PostgreSQL, where server-side binding cannot guess
        kind = fields[name].db_type(connection)
        return f"CAST(%s AS {kind})" if connection.vendor == "postgresql" else "%s"

    table = quote(BalanceSample._meta.db_table)
    columns = ", ".join(column[name] for name in ("at", *FIELDS))
    values = ", ".join(value(name) for name in ("at", *FIELDS))
    when = column["at"]
    first = f"NOT EXISTS (SELECT 1 FROM {table} WHERE {when} >= {value('at')} AND {when} < {value('at')})"  # noqa: S608
    same = " AND ".join(f"latest.{column[name]} = {value(name)}" for name in FIELDS)
    # Only the quoted names of the model's own table and columns are formatted in; every value is a parameter.
    sql = f"INSERT INTO {table} ({columns}, {column['hourly']}) SELECT {values}, {first} WHERE NOT EXISTS (SELECT 1 FROM (SELECT {columns} FROM {table} ORDER BY {column['at']} DESC LIMIT 1) latest WHERE latest.{column['at']} > {value('at')} AND {same})"  # noqa: S608
    adapt = connection.ops.adapt_datetimefield_value
    hour = adapt(_hour_of(at))
    with connection.cursor() as cursor:
        cursor.execute(sql, [adapt(at), *figures, hour, adapt(at), adapt(at - SAME_FIGURES_WITHIN), *figures])
        return bool(cursor.rowcount)


def _hour_of(at: datetime) -> datetime:
    """The start of ``at``'s hour (UTC, which is every whole-hour time zone's hour too)."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _read_then_insert(using: str, at: datetime, figures: tuple[float, ...]) -> bool:
    samples = BalanceSample.objects.using(using)
    latest = samples.order_by("-at").values_list("at", *FIELDS).first()
    if latest is not None and latest[0] > at - SAME_FIGURES_WITHIN and tuple(latest[1:]) == figures:
        return False
    first = not samples.filter(at__gte=_hour_of(at), at__lt=at).exists()
    samples.create(at=at, hourly=first, **dict(zip(FIELDS, figures, strict=True)))
    return True


def add_samples(rows: Iterable[BalanceSample], batch_size: int = 2000) -> int:
    """Write many samples at once (a history made elsewhere: a demo, a test, an import), each
    marked ``hourly`` when it is the first of its hour among them; how many were written."""
    ordered = sorted(rows, key=lambda row: row.at)
    seen: datetime | None = None
    for row in ordered:
        hour = _hour_of(row.at)
        row.hourly = hour != seen
        seen = hour
    return len(BalanceSample.objects.bulk_create(ordered, batch_size=batch_size))


@contextmanager
def _own_savepoint(using: str) -> Iterator[None]:
    """Inside the caller's transaction (``ATOMIC_REQUESTS``, a task's): a savepoint, so a
    failed INSERT leaves that transaction usable. Outside one: nothing (autocommit)."""
    if connections[using].in_atomic_block:
        with transaction.atomic(using=using):
            yield
    else:
        yield


def _record_robustly(balance: dict[str, float], at: datetime | None, what: str) -> None:
    try:
        record_sample(balance, at)
    except Exception:
        logger.exception("balance samples: %s could not be recorded", what)


@receiver(balance_read, dispatch_uid="credits.samples.balance_read")
def _on_balance_read(sender: Any, balance: dict[str, float], asked: datetime, **kwargs: Any) -> None:
    _record_robustly(balance, asked, "a balance reading")


@receiver(topup_succeeded, sender=TopupAttempt, dispatch_uid="credits.samples.topup_succeeded")
def _on_topup_succeeded(
    sender: Any, attempt: TopupAttempt, balance: dict[str, float] | None = None, **kwargs: Any
) -> None:
    if balance is None or attempt.settled_by:
        return  # no balance, or a settlement's: the replay of the first answer, as old as that
    _record_robustly(balance, None, f"the balance of top-up {attempt.pk}")


# --- Reading -----------------------------------------------------------------------------------


def history(since: datetime, until: datetime | None = None) -> list[BalanceSample]:
    """The history from ``since`` until ``until`` (default: now and later), oldest first: the
    first sample of each hour and the newest. Two indexed reads (the hourly samples' partial
    index, the newest by ``at``) of at most one row an hour, so a month costs the same however
    many samples its busiest hours hold.

    Spend counts on the reading that saw it: past the newest hour that is the next hour's first
    reading, so the spend of the last minutes before midnight may count on the next day."""
    samples = BalanceSample.objects.filter(at__gte=since)
    if until is not None:
        samples = samples.filter(at__lt=until)
    rows = list(samples.filter(hourly=True).order_by("at"))
    newest = samples.order_by("-at").first()
    if newest is not None and (not rows or newest.at > rows[-1].at):
        rows.append(newest)
    return rows


def as_samples(rows: Iterable[BalanceSample]) -> list[Sample]:
    """``rows`` (such as :func:`history`'s) as :class:`credits.forecast.Sample` values, for its arithmetic."""
    return [Sample(at=row.at, credits=row.credits, spend=row.spend, remaining=row.remaining) for row in rows]


# --- Retention ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pruned:
    thinned: int  # samples older than 14 days that were not the first of their hour
    expired: int  # samples older than 400 days

    def __str__(self) -> str:
        return f"pruned {self.thinned} thinned, {self.expired} expired"


def prune(now: datetime | None = None) -> Pruned:
    """Apply the retention rule: every sample for 14 days, then the first sample of each hour
    (UTC, ``hourly``: marked when it was written), nothing past 400 days. Two DELETEs over
    ranges of ``at``; the first reads only the samples not kept for their hour (a partial index)."""
    now = now or timezone.now()
    using = router.db_for_write(BalanceSample)
    samples = BalanceSample.objects.using(using)
    with transaction.atomic(using=using):
        expired = samples.filter(at__lt=now - HOURLY_FOR).delete()[0]
        thinned = samples.filter(at__lt=now - EVERY_SAMPLE_FOR, hourly=False).delete()[0]
    return Pruned(thinned, expired)


def prune_if_due() -> Pruned | None:
    """:func:`prune` unless another run (in any process) did within the hour; None then."""
    if not _claim_turn(PRUNER, PRUNE_EVERY):
        return None
    return prune()


# --- The background chain ----------------------------------------------------------------------


@dataclass(frozen=True)
class Taken:
    """What one sampling did: the reading (None when there was none) and whether it was kept."""

    said: str
    balance: dict[str, float] | None = None
    recorded: bool = False
    failed: bool = False  # the landing could not give the balance

    def __str__(self) -> str:
        return self.said


def take_sample() -> Taken:
    """Read the balance from the landing (the ``balance_read`` receiver records it), unless a
    page read it moments ago: a reading in the shared cache (it keeps one for
    ``BALANCE_CACHE_SECONDS``, well within ``SAMPLE_MINUTES``) went through the receiver already.
    A landing that cannot answer is said, not raised."""
    conf = get_settings()
    if conf.BALANCE_CACHE_SECONDS < conf.SAMPLE_MINUTES * 60 and cached_balance() is not None:
        return Taken(f"not read: a page read the balance within {conf.BALANCE_CACHE_SECONDS} s (recorded then)")
    started = timezone.now()
    try:
        balance = read_balance()
    except (LandingNotConfigured, LandingBusy, BalanceUnavailable) as exc:
        logger.warning("balance samples: the balance could not be read (%s)", exc)
        return Taken(f"not read: {exc or type(exc).__name__}", failed=True)
    kept = BalanceSample.objects.filter(at__gte=started, **{name: balance[name] for name in FIELDS}).exists()
    figures = ", ".join(f"{name} ${balance[name]:,.2f}" for name in FIELDS)
    if kept:
        return Taken(f"recorded: {figures}", balance, recorded=True)
    return Taken(f"read: {figures}; the same as the sample of the last minute, not recorded again", balance)


@task()
def sample_balance(due: str) -> str:
    """One link of the sampling chain: if it is still the one due (another chain, or an older
    link, is superseded), queue the next link, then sample the balance, and prune once an hour."""
    if not chain_next(sample_balance, SAMPLER, due, timedelta(minutes=get_settings().SAMPLE_MINUTES)):
        return "superseded"
    taken, pruned = sample_once()
    return f"{taken}; {pruned}" if pruned else str(taken)


def sample_once() -> tuple[Taken, str | None]:
    """One link's work, without the chain (also ``manage.py sample_balance``): the sampling,
    and what the pruning did (None when another run pruned within the hour)."""
    taken = take_sample()
    try:
        pruned = prune_if_due()
    except Exception:
        logger.exception("balance samples: the pruning failed")
        return taken, "the pruning failed"
    return taken, None if pruned is None else str(pruned)


def start_sampling(using: str = "default", **kwargs: Any) -> bool:
    """Start the sampling chain unless one lives (its next link is due within a few intervals);
    connected to ``post_migrate``. Returns whether it started one. With a backend that cannot
    run a task later there is no chain: ``manage.py sample_balance`` from cron samples instead."""
    conf = get_settings()
    dead_after = timedelta(minutes=conf.SAMPLE_MINUTES * 3, seconds=conf.BALANCE_TIMEOUT)
    return chain_start(
        sample_balance, SAMPLER, dead_after, using, "the balance sampling could not be started; migrate starts it again"
    )


# --- Chains of tasks (reusable) ----------------------------------------------------------------
#
# A chain is a task that takes the time its link was due (ISO) and queues its own next run.
# Its ``Schedule`` row holds when the next link is due; a link goes ahead only if it moves the
# row from its own time to the next one (one conditional UPDATE), in the transaction that
# queues the next link, so however many copies start (two workers, two machines, a restart),
# one lives, and a worker that dies after that commit leaves the next link queued. Only
# ``Schedule`` and ``credits.db`` are used here, so these can move down to ``credits.db``.


def _claim_turn(name: str, every: timedelta) -> bool:
    """Whether this process takes this turn of work done at most once per ``every`` (in any
    process): one conditional UPDATE moves the ``Schedule`` row ``name`` on; its first turn
    creates the row."""
    using = router.db_for_write(Schedule)
    now = timezone.now()
    schedule = Schedule.objects.using(using)
    if schedule.filter(name=name, due_at__lte=now).update(due_at=now + every):
        return True
    _row, created = schedule.get_or_create(name=name, defaults={"due_at": now + every})
    return created
