"""``python manage.py demo_history``: a plausible past of balance samples, for the sandbox demo.

The credits page's chart, its table and the header's forecast are drawn from the balance
samples (:mod:`credits.samples`), which a fresh demo site has none of. This command writes
``--days`` (default 14) of them, one every ``--every`` minutes (default 5, the sampler's
interval), as the sampler would have kept them: spend heavier in working hours (the site's
time zone) than at night and at weekends, a couple of top-ups raising ``credits`` when the
remaining ran low, ``credits`` and ``spend`` cumulative and ``remaining = credits - spend``
throughout. Samples older than the 14 days retention keeps in full are written thinned to the
first of each hour, as :func:`credits.samples.prune` would have left them; the first sample of
every hour is marked ``hourly``, as :func:`credits.samples.record_sample` marks it.

The history ends where today's readings start: at the sandbox landing's current balance, asked
of its control endpoint (``GET /sandbox/state``). A fresh sandbox has spent less than the
history says was spent, so its cumulative spend is moved on to the history's (``POST
/sandbox/configure``, its remaining kept) and the two join exactly; then the balance is read
(:func:`credits.balance.read_balance`), today's first sample. When the landing does not
answer, the history ends at a made-up balance, and the command says so.

Sandbox only (``CREDITS["SANDBOX"]``): the samples are made up. It never adds to samples already
in its range or after it (a reading of the sandbox taken before its spend was moved on, by a
worker running meanwhile, would count that spend twice): it refuses, naming them, unless
``--replace`` deletes them first. ``make run`` starts its worker after this command. ``--seed`` makes
the figures the same on every run (the times follow the clock).
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import router, transaction
from django.utils import timezone

from credits.balance import read_balance
from credits.conf import get_settings
from credits.exceptions import BalanceUnavailable, LandingBusy, LandingNotConfigured
from credits.models import BalanceSample
from credits.samples import EVERY_SAMPLE_FOR, add_samples

MAX_DAYS = 90
MAX_EVERY_MINUTES = 60
DAILY_SPEND_CENTS = 1200  # the team's spend on an average day of the made-up history
MADE_UP_REMAINING_CENTS = 4000  # where the history ends when the landing does not answer
TOPUP_AMOUNTS_CENTS = (500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000)  # what people add
LOW_CENTS = (150, 800)  # a top-up leaves at least this much remaining before it: between these
JITTER_SECONDS = 30  # a reading lands up to this long after its slot, as the sampler's do
BATCH = 2000  # rows per INSERT


@dataclass(frozen=True)
class End:
    """The balance the history ends at, in cents, and whether the landing gave it (else it is
    made up, ``reason`` saying why)."""

    credits: int
    spend: int
    reason: str = ""
    kept_behind: str = ""  # why the sandbox's spend could not be moved on to the history's

    @property
    def remaining(self) -> int:
        return self.credits - self.spend

    @property
    def from_landing(self) -> bool:
        return not self.reason


@dataclass(frozen=True)
class Plan:
    """The samples to write (unsaved, oldest first) and what they hold, for the summary."""

    rows: list[BalanceSample]
    spent_cents: int
    topups_cents: list[int]


# --- the spend -----------------------------------------------------------------------------------


def activity(at: datetime) -> float:
    """How busy the team is at ``at`` (local time): 1 in working hours on a weekday, less in the
    mornings and evenings, little at night and at weekends."""
    local = timezone.localtime(at)
    weekend = local.weekday() >= 5
    if 9 <= local.hour < 18:
        return 0.12 if weekend else 1.0
    if 7 <= local.hour < 9 or 18 <= local.hour < 22:
        return 0.05 if weekend else 0.3
    return 0.03


def slot_times(start: datetime, count: int, every: timedelta, rng: random.Random) -> list[datetime]:
    """``count`` reading times from ``start``, one per ``every``, each a few seconds late."""
    return [start + k * every + timedelta(seconds=rng.uniform(0, JITTER_SECONDS)) for k in range(count)]


def cumulative_spend(times: list[datetime], total_cents: int, rng: random.Random) -> list[int]:
    """The cents spent from the first reading to each reading: 0 at the first, ``total_cents`` at
    the last, never decreasing. Each stretch gets a share by :func:`activity` at its end, made
    uneven (some stretches idle, others busier), the shares scaled to the total."""
    weights = [0.0]
    for at in times[1:]:
        busy = activity(at)
        idle = rng.random() < 0.5 * (1 - busy)
        weights.append(0.0 if idle else busy * rng.lognormvariate(0, 0.75))
    running, totals = 0.0, []
    for weight in weights:
        running += weight
        totals.append(running)
    whole = totals[-1] or 1.0  # no weight at all (a very short history of idle nights): no spend
    return [round(total_cents * part / whole) for part in totals]


# --- the top-ups ---------------------------------------------------------------------------------


def topup_readings(times: list[datetime], rng: random.Random) -> list[int]:
    """The readings a top-up came just after, oldest first: two (one in a history of under three
    days), well apart, in weekday working hours when there are such readings, never in the
    history's first or last few hours."""
    count = 2 if (times[-1] - times[0]) >= timedelta(days=3) else 1
    first, last = len(times) * 15 // 100, len(times) * 90 // 100
    part = max(1, (last - first) // count)
    chosen: list[int] = []
    for j in range(count):
        span = range(first + j * part, min(last, first + (j + 1) * part))
        busy = [k for k in span if activity(times[k]) == 1.0]
        if busy or span:
            chosen.append(rng.choice(busy or list(span)))
    return chosen


def topped_up_after(spend: list[int], end: End, chosen: list[int], rng: random.Random) -> tuple[list[int], list[int]]:
    """For each reading, the cents added by top-ups after it; and the top-ups, oldest first.

    Walked back from the end: going back in time the remaining grows by what was spent since.
    At each chosen reading, a top-up of the largest usual amount that still leaves a little
    (:data:`LOW_CENTS`) remaining before it is taken off the credits before it; none there when
    even the smallest would leave too little."""
    amounts: dict[int, int] = {}
    added = 0
    for k in sorted(chosen, reverse=True):
        remaining = end.remaining + (spend[-1] - spend[k]) - added
        low = rng.randint(*LOW_CENTS)
        fitting = [amount for amount in TOPUP_AMOUNTS_CENTS if amount <= remaining - low]
        if fitting:
            amounts[k] = max(fitting)
            added += amounts[k]
    after, total = [0] * len(spend), 0
    for k in range(len(spend) - 1, -1, -1):
        total += amounts.get(k, 0)
        after[k] = total
    return after, [amounts[k] for k in sorted(amounts)]


# --- the samples ---------------------------------------------------------------------------------


def thinned(rows: list[BalanceSample], line: datetime) -> list[BalanceSample]:
    """``rows`` as the retention keeps them: every one from ``line`` on, before it the first of
    each hour (UTC)."""
    kept: dict[datetime, BalanceSample] = {}
    recent: list[BalanceSample] = []
    for row in rows:
        if row.at >= line:
            recent.append(row)
        else:
            kept.setdefault(row.at.astimezone(UTC).replace(minute=0, second=0, microsecond=0), row)
    return [*kept.values(), *recent]


def plan_history(until: datetime, end: End, days: int, every: timedelta, seed: int) -> Plan:
    """The samples of the ``days`` before ``until``, one per ``every``, ending at ``end``. The same
    ``seed`` gives the same figures for the same ``until``."""
    rng = random.Random(seed)
    start = until - timedelta(days=days)
    times = slot_times(start, int(timedelta(days=days) / every), every, rng)
    spent = cumulative_spend(times, DAILY_SPEND_CENTS * days, rng)
    # The landing's own cumulative spend when it is large enough, else the history's.
    base = max(0, end.spend - spent[-1])
    after, topups = topped_up_after(spent, end, topup_readings(times, rng), rng)
    final_credits = base + spent[-1] + end.remaining
    rows = [
        BalanceSample(
            at=at,
            credits=(final_credits - added) / 100,
            spend=(base + cents) / 100,
            remaining=(final_credits - added - base - cents) / 100,
        )
        for at, cents, added in zip(times, spent, after, strict=True)
    ]
    return Plan(thinned(rows, until - EVERY_SAMPLE_FOR), spent[-1], topups)


def landing_end(wait: float = 0.0) -> End:
    """Where the history ends: the sandbox landing's balance now, from its control endpoint
    (``GET /sandbox/state``: no balance reading is recorded yet), or, when it does not answer
    within ``wait`` seconds (a landing starting beside this command), a made-up one."""
    deadline = time.monotonic() + wait
    while True:
        try:
            state = _sandbox("GET", "state")
            spend = round(float(state["spend"]) * 100)
            return End(credits=spend + round(float(state["remaining"]) * 100), spend=spend)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            if time.monotonic() >= deadline:
                return End(credits=MADE_UP_REMAINING_CENTS, spend=0, reason=_why(exc))
            time.sleep(0.2)


def catch_up(end: End, spent_cents: int) -> End:
    """Move the sandbox's cumulative spend on to the history's when it is behind (a fresh
    sandbox has spent nothing), its remaining kept, so the history joins its readings exactly;
    ``end`` as it was when the sandbox refuses."""
    if not end.from_landing or end.spend >= spent_cents:
        return end
    moved = End(credits=spent_cents + end.remaining, spend=spent_cents)
    try:
        _sandbox("POST", "configure", {"spend": moved.spend / 100, "credits": moved.credits / 100})
    except (httpx.HTTPError, ValueError) as exc:
        return End(credits=end.credits, spend=end.spend, reason="", kept_behind=_why(exc))
    return moved


def _sandbox(method: str, control: str, body: dict[str, float] | None = None) -> dict[str, Any]:
    url = f"{get_settings().landing_url}/sandbox/{control}"
    answer = httpx.request(method, url, json=body, timeout=3.0)
    answer.raise_for_status()
    found = answer.json()
    if not isinstance(found, dict):
        raise ValueError("the sandbox answered no object")
    return found


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def write(rows: list[BalanceSample], start: datetime, *, replace: bool) -> int:
    """Write ``rows`` in one transaction, after deleting the samples from ``start`` on when
    ``replace``; refuse when there are some and not ``replace``. Returns how many were deleted."""
    using = router.db_for_write(BalanceSample)
    with transaction.atomic(using=using):
        existing = BalanceSample.objects.using(using).filter(at__gte=start)
        found = existing.count()
        if found and not replace:
            raise CommandError(refusal(found, start))
        deleted = existing.delete()[0] if found else 0
        add_samples(rows, batch_size=BATCH)  # the first of each hour marked, as the site marks it
    return deleted


def refusal(found: int, start: datetime) -> str:
    return (
        f"There are already {found:,} balance samples from {start:%Y-%m-%d %H:%M} (UTC) on; a history written "
        "beside them would count their spend twice. Add --replace to delete them first."
    )


class Command(BaseCommand):
    help = (
        "Sandbox only: write a plausible past of balance samples (default: 14 days, one every 5 minutes, "
        "spend heavier in working hours, a couple of top-ups) ending at the sandbox landing's current balance, "
        "so the credits page's chart and forecast have a history to show. Refuses when samples exist in that "
        "range or after it unless --replace."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=14, help=f"days of history, 1 to {MAX_DAYS} (default 14)")
        parser.add_argument(
            "--every", type=int, default=5, help=f"minutes between samples, 1 to {MAX_EVERY_MINUTES} (default 5)"
        )
        parser.add_argument("--seed", type=int, default=1, help="the same seed writes the same figures (default 1)")
        parser.add_argument(
            "--replace", action="store_true", help="delete the samples already in the range instead of refusing"
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="write nothing, and succeed, when any sample exists (make run)"
        )
        parser.add_argument(
            "--wait", type=float, default=0.0, help="seconds to wait for the landing to answer (default 0)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not get_settings().SANDBOX:
            raise CommandError(
                "demo_history writes made-up balance history, so it runs only with the sandbox "
                "(CREDITS['SANDBOX'], VERS_SANDBOX=on as make run sets it)."
            )
        days, every = options["days"], options["every"]
        if not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--days must be a whole number from 1 to {MAX_DAYS}.")
        if not 1 <= every <= MAX_EVERY_MINUTES:
            raise CommandError(f"--every must be a whole number of minutes from 1 to {MAX_EVERY_MINUTES}.")
        if options["if_empty"] and BalanceSample.objects.exists():
            self.stdout.write("The site has a balance history already: nothing written.")
            return
        until = timezone.now()  # today's readings start here: the landing's, read next, is the first
        start = until - timedelta(days=days)
        found = BalanceSample.objects.filter(at__gte=start).count()
        if found and not options["replace"]:
            raise CommandError(refusal(found, start))  # before the landing is asked
        end = landing_end(options["wait"])
        plan = plan_history(until, end, days, timedelta(minutes=every), options["seed"])
        end = catch_up(end, plan.spent_cents)  # the same rows: they end at the same remaining
        deleted = write(plan.rows, start, replace=options["replace"])
        if end.from_landing:
            with contextlib.suppress(LandingNotConfigured, LandingBusy, BalanceUnavailable):
                read_balance()  # today's first reading, recorded where the history ends
        self.stdout.write(summary(plan, end, days, every, deleted))


def summary(plan: Plan, end: End, days: int, every: int, deleted: int) -> str:
    """The one line the command prints: what it wrote, and where the history ends."""
    spacing = f"one every {every} minutes"
    if timedelta(days=days) > EVERY_SAMPLE_FOR:
        spacing += f" for the last {EVERY_SAMPLE_FOR.days} days and one an hour before, as the retention keeps them"
    if deleted:
        spacing += f"; replacing {deleted:,} samples"
    count = len(plan.topups_cents)
    topups = f"{count} top-up{'' if count == 1 else 's'} (${sum(plan.topups_cents) / 100:,.2f})"
    remaining = f"${end.remaining / 100:,.2f} remaining"
    if not end.from_landing:
        ending = f"a made-up {remaining} (the landing did not answer: {end.reason})"
    elif end.kept_behind:
        ending = (
            f"the sandbox landing's {remaining}; its spend so far (${end.spend / 100:,.2f}) is less than the "
            f"history's and could not be moved on ({end.kept_behind}), so the next reading shows as a landing "
            "reset (one gap)"
        )
    else:
        ending = f"the sandbox landing's balance ({remaining})"
    return (
        f"Wrote {len(plan.rows):,} balance samples over the last {days} days ({spacing}): "
        f"${plan.spent_cents / 100:,.2f} spent, {topups}, ending at {ending}."
    )
