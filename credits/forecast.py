"""Spend history and a forecast of when the credits run out, from samples of balance readings.

Layer 1: pure arithmetic on ``Sample`` values, no database, so the rules can be tested (and
property-tested) without a landing or a model.

The landing's ``credits`` and ``spend`` are cumulative, so the spend between two readings is the
difference of ``spend``, exact whatever top-ups happened in between (a top-up raises ``credits``
only). A landing reset shows as ``spend`` going down: that stretch is a gap in the history (its
spend is unknown), never negative spend.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import pairwise

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

HOUR = timedelta(hours=1)
RATE_LOOKBACK = timedelta(hours=24)  # the recent rate looks this far back
MIN_HISTORY = timedelta(hours=1)  # less than this is too little to say anything
LONG_DAYS = 90  # past this, "more than 90 days": a longer forecast is not worth a number


@dataclass(frozen=True)
class Sample:
    """One balance reading, in dollars, at an aware time."""

    at: datetime
    credits: float
    spend: float
    remaining: float

    def __post_init__(self) -> None:
        # A naive time cannot be placed on a day or compared with an aware one: refuse it here,
        # where the bug is, rather than as a TypeError deep in a sort.
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("Sample.at must be an aware datetime")
        if not all(math.isfinite(v) for v in (self.credits, self.spend, self.remaining)):
            raise ValueError("Sample amounts must be finite")


@dataclass(frozen=True)
class Interval:
    """The stretch between two consecutive readings with no reset: ``spend`` dollars were spent
    from ``start`` to ``end`` (when, inside the stretch, is not known)."""

    start: datetime
    end: datetime
    spend: float


def intervals(samples: Iterable[Sample]) -> list[Interval]:
    """The continuous stretches of the history, oldest first.

    Consecutive readings (by time) make a stretch when ``spend`` did not go down; a decrease is a
    landing reset, so that stretch is left out: it is a gap, and its spend counts nowhere.
    """
    ordered = sorted(samples, key=lambda s: (s.at, s.spend))
    return [Interval(a.at, b.at, b.spend - a.spend) for a, b in pairwise(ordered) if b.spend >= a.spend]


def daily_spend(samples: Iterable[Sample], days: int, now: datetime, tz: tzinfo) -> list[tuple[date, float]]:
    """The dollars spent on each of the last ``days`` days in ``tz`` (today included), oldest
    first, with 0.0 for a day without spend.

    The spend of a stretch goes wholly to the day of its later reading: that is when it became
    known, no spend is invented by spreading it, and the days add up exactly to the spend seen.
    A stretch across midnight (say the site was idle overnight) therefore lands on the later day.
    """
    today = now.astimezone(tz).date()
    totals = {today - timedelta(days=back): 0.0 for back in range(days - 1, -1, -1)}
    for interval in intervals(s for s in samples if s.at <= now):
        day = interval.end.astimezone(tz).date()
        if day in totals:
            totals[day] += interval.spend
    return list(totals.items())


def hourly_spend(samples: Iterable[Sample], hours: int, now: datetime) -> list[tuple[datetime, float]]:
    """The dollars spent in each of the last ``hours`` whole hours (the current one included),
    oldest first, each keyed by its start (UTC hours, which are local hours in every whole-hour
    time zone). A stretch goes wholly to the hour of its later reading, as in ``daily_spend``.
    """
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    totals = {current - back * HOUR: 0.0 for back in range(hours - 1, -1, -1)}
    for interval in intervals(s for s in samples if s.at <= now):
        hour = interval.end.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        if hour in totals:
            totals[hour] += interval.spend
    return list(totals.items())


@dataclass(frozen=True)
class Rate:
    """Dollars an hour, and the time it was measured over (the history seen inside the look-back,
    gaps left out), so a sentence can say "at the rate of the last 5 hours"."""

    per_hour: float
    window: timedelta


def _observed(samples: Iterable[Sample], now: datetime, lookback: timedelta) -> tuple[float, timedelta]:
    """The spend and the time covered by the history inside ``(now - lookback, now]``.

    A stretch reaching back past the look-back counts in proportion to its part inside (spend is
    taken as even within a stretch, the only guess possible between two readings).
    """
    start = now - lookback
    spend, covered = 0.0, timedelta(0)
    for interval in intervals(s for s in samples if s.at <= now):
        if interval.end <= start:
            continue
        length = interval.end - interval.start
        inside = interval.end - max(interval.start, start)
        spend += interval.spend if length == timedelta(0) else interval.spend * (inside / length)
        covered += inside
    return spend, covered


def recent_rate(samples: Iterable[Sample], now: datetime, lookback: timedelta = RATE_LOOKBACK) -> Rate | None:
    """The spend rate over the last day, or over the whole history when it is younger.

    None when less than an hour of history is seen (one busy minute would forecast nonsense), or
    when nothing was spent (no rate, so no forecast).
    """
    spend, covered = _observed(samples, now, lookback)
    if covered < MIN_HISTORY or spend <= 0:
        return None
    per_hour = spend / (covered / HOUR)
    if per_hour <= 0:  # a spend so small that the division underflows: no rate to speak of
        return None
    return Rate(per_hour=per_hour, window=covered)


def hours_left(remaining: float, per_hour: float | None) -> float | None:
    """Hours until ``remaining`` reaches 0 at ``per_hour``; None without a positive rate, or when
    the credits are already out (``remaining <= 0``, which the caller says in its own words)."""
    if per_hour is None or per_hour <= 0 or remaining <= 0:
        return None
    return remaining / per_hour


def _nearest(value: float) -> int:
    """Round half up (``round`` rounds half to even: 2.5 hours would say "about 2 hours")."""
    return math.floor(value + 0.5)


def time_left_phrase(hours: float) -> str:
    """A time left with no false precision: "less than an hour", "about 6 hours" (under 36
    hours, whole hours), "about 3 days" (whole days), "more than 90 days"."""
    if hours < 1:
        return _("less than an hour")
    if hours < 36:
        count = _nearest(hours)
        return ngettext("about %(count)d hour", "about %(count)d hours", count) % {"count": count}
    if hours >= LONG_DAYS * 24:
        return ngettext("more than %(count)d day", "more than %(count)d days", LONG_DAYS) % {"count": LONG_DAYS}
    count = _nearest(hours / 24)
    return ngettext("about %(count)d day", "about %(count)d days", count) % {"count": count}


def window_phrase(window: timedelta) -> str:
    """Which rate a forecast is at: "at the last day's rate", "at the rate of the last 5 hours"."""
    count = max(1, _nearest(window / HOUR))
    if count == 24:
        return _("at the last day's rate")
    return ngettext("at the last hour's rate", "at the rate of the last %(count)d hours", count) % {"count": count}


@dataclass(frozen=True)
class Forecast:
    """What the header panel and the JSON answer say about when the credits run out.

    ``state`` is ``"forecast"`` (a rate and a time left), ``"out"`` (nothing remains), ``"idle"``
    (enough history, no spend) or ``"unknown"`` (under an hour of history in the last day);
    ``phrase`` is the full sentence for the panel.
    """

    state: str
    phrase: str
    remaining: float | None = None
    rate_per_hour: float | None = None
    window: timedelta | None = None
    hours_left: float | None = None

    def as_json(self) -> dict[str, float | str]:
        """Numbers and strings only; a number that is not known is left out rather than null."""
        answer: dict[str, float | str] = {"state": self.state, "phrase": self.phrase}
        if self.remaining is not None:
            answer["remaining"] = self.remaining
        if self.rate_per_hour is not None:
            answer["ratePerHour"] = self.rate_per_hour
        if self.window is not None:
            answer["windowHours"] = self.window / HOUR
        if self.hours_left is not None:
            answer["hoursLeft"] = self.hours_left
        return answer


def forecast(samples: Iterable[Sample], now: datetime, remaining: float | None = None) -> Forecast:
    """When the credits run out at the recent rate.

    ``remaining`` defaults to the latest reading's; pass a fresher reading when there is one.
    """
    seen = [s for s in samples if s.at <= now]
    if remaining is None and seen:
        remaining = max(seen, key=lambda s: (s.at, s.spend)).remaining
    if remaining is not None and remaining <= 0:
        return Forecast(state="out", phrase=_("The credits have run out."), remaining=remaining)
    rate = recent_rate(seen, now)
    if remaining is None or rate is None:
        if _observed(seen, now, RATE_LOOKBACK)[1] < MIN_HISTORY:
            return Forecast(
                state="unknown", phrase=_("Too little recent spend history for a forecast."), remaining=remaining
            )
        return Forecast(
            state="idle", phrase=_("Nothing was spent lately, so there is no forecast."), remaining=remaining
        )
    left = remaining / rate.per_hour
    sentence = _("%(time)s left %(rate)s.") % {"time": time_left_phrase(left), "rate": window_phrase(rate.window)}
    return Forecast(
        state="forecast",
        phrase=sentence[:1].upper() + sentence[1:],
        remaining=remaining,
        rate_per_hour=rate.per_hour,
        window=rate.window,
        hours_left=left,
    )
