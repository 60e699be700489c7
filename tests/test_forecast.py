"""Spend history and the forecast (``credits.forecast``): the spend between readings, resets as
gaps, the rate over the last day (or a younger history), and the words of the time left."""

from __future__ import annotations

import ast
import json
import math
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credits.forecast import (
    Forecast,
    Interval,
    Rate,
    Sample,
    daily_spend,
    forecast,
    hourly_spend,
    hours_left,
    intervals,
    recent_rate,
    time_left_phrase,
    window_phrase,
)

T0 = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def sample(at: datetime, spend: float, credits: float = 100.0) -> Sample:
    return Sample(at=at, credits=credits, spend=spend, remaining=credits - spend)


def steady(hours: int, per_hour: float, start: datetime = T0, credits: float = 100.0) -> list[Sample]:
    """A reading every hour for ``hours`` hours, spending ``per_hour`` each hour."""
    return [sample(start + i * H, i * per_hour, credits) for i in range(hours + 1)]


# --- the stretches between readings ---------------------------------------------------------


def test_the_spend_between_readings_is_the_difference_in_time_order():
    readings = [sample(T0 + 2 * H, 5.0), sample(T0, 1.0), sample(T0 + H, 2.5)]
    assert intervals(readings) == [Interval(T0, T0 + H, 1.5), Interval(T0 + H, T0 + 2 * H, 2.5)]


def test_a_reset_is_a_gap_not_negative_spend():
    readings = [sample(T0, 40.0), sample(T0 + H, 42.0), sample(T0 + 2 * H, 1.0), sample(T0 + 3 * H, 4.0)]
    assert intervals(readings) == [Interval(T0, T0 + H, 2.0), Interval(T0 + 2 * H, T0 + 3 * H, 3.0)]
    assert [total for _day, total in daily_spend(readings, 1, T0 + 3 * H, UTC)] == [5.0]


def test_a_top_up_raises_credits_but_not_spend():
    before = [
        sample(T0, 10.0, credits=20.0),
        sample(T0 + H, 12.0, credits=20.0),
        sample(T0 + 2 * H, 15.0, credits=20.0),
    ]
    topped = [before[0], sample(T0 + H, 12.0, credits=70.0), sample(T0 + 2 * H, 15.0, credits=70.0)]
    assert intervals(topped) == intervals(before)
    assert daily_spend(topped, 2, T0 + 2 * H, UTC) == daily_spend(before, 2, T0 + 2 * H, UTC)
    assert recent_rate(topped, T0 + 2 * H) == recent_rate(before, T0 + 2 * H) == Rate(2.5, 2 * H)
    # The forecast reads the remaining after the top-up: 55 dollars at 2.5 an hour.
    assert forecast(topped, T0 + 2 * H).hours_left == pytest.approx(22.0)


def test_a_naive_time_or_a_non_finite_amount_is_refused():
    with pytest.raises(ValueError, match="aware"):
        Sample(at=datetime(2024, 3, 10, 12, 0), credits=1.0, spend=0.0, remaining=1.0)
    with pytest.raises(ValueError, match="finite"):
        Sample(at=T0, credits=math.inf, spend=0.0, remaining=1.0)


# --- spend by day and by hour ----------------------------------------------------------------


def test_daily_spend_has_one_entry_a_day_oldest_first_with_zeros():
    readings = [sample(T0 - timedelta(days=2), 0.0), sample(T0 - timedelta(days=2) + H, 3.0), sample(T0, 10.0)]
    days = daily_spend(readings, 4, T0, UTC)
    assert [day.isoformat() for day, _total in days] == ["2024-03-07", "2024-03-08", "2024-03-09", "2024-03-10"]
    assert [total for _day, total in days] == [0.0, 3.0, 0.0, 7.0]


def test_a_stretch_across_midnight_goes_to_the_day_of_the_later_reading():
    evening = datetime(2024, 3, 9, 22, 0, tzinfo=UTC)
    readings = [sample(evening, 0.0), sample(evening + 4 * H, 8.0)]  # 22:00 to 02:00 the next day
    assert [total for _day, total in daily_spend(readings, 2, evening + 4 * H, UTC)] == [0.0, 8.0]


def test_days_are_those_of_the_time_zone_given():
    # 02:00 UTC on the 10th is 21:00 on the 9th five hours west.
    readings = [
        sample(datetime(2024, 3, 10, 1, 0, tzinfo=UTC), 0.0),
        sample(datetime(2024, 3, 10, 2, 0, tzinfo=UTC), 6.0),
    ]
    now = datetime(2024, 3, 10, 3, 0, tzinfo=UTC)
    west = timezone(timedelta(hours=-5))
    assert [(day.day, total) for day, total in daily_spend(readings, 2, now, west)] == [(8, 0.0), (9, 6.0)]
    assert [(day.day, total) for day, total in daily_spend(readings, 2, now, UTC)] == [(9, 0.0), (10, 6.0)]


def test_a_gap_in_time_puts_the_whole_spend_on_the_later_day():
    readings = [sample(T0 - timedelta(days=3), 0.0), sample(T0, 30.0)]
    assert [total for _day, total in daily_spend(readings, 4, T0, UTC)] == [0.0, 0.0, 0.0, 30.0]


def test_readings_after_now_and_before_the_days_count_nowhere():
    readings = [sample(T0 - timedelta(days=5), 0.0), sample(T0 - timedelta(days=4), 9.0), sample(T0, 10.0)]
    later = [*readings, sample(T0 + H, 50.0)]
    assert [total for _day, total in daily_spend(later, 2, T0, UTC)] == [0.0, 1.0]


def test_hourly_spend_buckets_by_the_hour_of_the_later_reading():
    readings = [sample(T0, 0.0), sample(T0 + timedelta(minutes=30), 1.0), sample(T0 + timedelta(minutes=90), 4.0)]
    hours = hourly_spend(readings, 3, T0 + timedelta(minutes=95))
    assert hours == [(T0 - H, 0.0), (T0, 1.0), (T0 + H, 3.0)]


# --- the recent rate -------------------------------------------------------------------------


def test_the_rate_is_over_the_last_day_when_the_history_is_longer():
    readings = steady(48, 1.0)[:25] + [sample(T0 + (24 + i) * H, 24 + 3.0 * i) for i in range(1, 25)]
    rate = recent_rate(readings, T0 + 48 * H)
    assert rate == Rate(per_hour=3.0, window=24 * H)


def test_a_young_history_gives_the_rate_over_its_age():
    rate = recent_rate(steady(5, 2.0), T0 + 5 * H)
    assert rate == Rate(per_hour=2.0, window=5 * H)
    young = forecast(steady(5, 2.0, credits=40.0), T0 + 5 * H)
    assert young.phrase == "About 15 hours left at the rate of the last 5 hours."


def test_less_than_an_hour_of_history_gives_no_rate_and_no_forecast():
    readings = [sample(T0, 0.0), sample(T0 + timedelta(minutes=50), 20.0)]
    assert recent_rate(readings, T0 + timedelta(minutes=50)) is None
    assert forecast(readings, T0 + timedelta(minutes=50)).state == "unknown"
    # One more reading past the hour, and there is one.
    longer = [*readings, sample(T0 + timedelta(minutes=60), 20.0)]
    assert recent_rate(longer, T0 + H) == Rate(20.0, H)


def test_no_spend_gives_no_rate_and_no_forecast():
    readings = steady(30, 0.0)
    assert recent_rate(readings, T0 + 30 * H) is None
    idle = forecast(readings, T0 + 30 * H)
    assert (idle.state, idle.hours_left, idle.rate_per_hour) == ("idle", None, None)
    assert idle.phrase == "Nothing was spent lately, so there is no forecast."


def test_a_stretch_straddling_the_look_back_counts_in_proportion():
    # 30 dollars over 72 hours: 24 of those hours are inside the last day, so 10 dollars.
    readings = [sample(T0 - timedelta(days=3), 0.0), sample(T0, 30.0)]
    rate = recent_rate(readings, T0)
    assert rate is not None
    assert rate.window == 24 * H
    assert rate.per_hour == pytest.approx(10.0 / 24)


def test_a_reset_is_left_out_of_the_rate_and_its_window():
    readings = [sample(T0, 50.0), sample(T0 + 2 * H, 54.0), sample(T0 + 3 * H, 0.0), sample(T0 + 5 * H, 4.0)]
    assert recent_rate(readings, T0 + 5 * H) == Rate(per_hour=2.0, window=4 * H)


def test_readings_that_stopped_long_ago_give_no_rate():
    assert recent_rate(steady(10, 1.0), T0 + 40 * H) is None
    assert forecast(steady(10, 1.0), T0 + 40 * H).state == "unknown"


# --- the time left and its words -------------------------------------------------------------


def test_hours_left_is_remaining_over_the_rate_or_none():
    assert hours_left(30.0, 5.0) == 6.0
    assert hours_left(30.0, None) is None
    assert hours_left(30.0, 0.0) is None
    assert hours_left(0.0, 5.0) is None
    assert hours_left(-3.0, 5.0) is None


@pytest.mark.parametrize(
    ("hours", "phrase"),
    [
        (0.0, "less than an hour"),
        (0.99, "less than an hour"),
        (1.0, "about 1 hour"),
        (1.49, "about 1 hour"),
        (2.5, "about 3 hours"),  # half up, not to even
        (6.0, "about 6 hours"),
        (6.4, "about 6 hours"),
        (35.4, "about 35 hours"),
        (35.6, "about 36 hours"),
        (36.0, "about 2 days"),
        (72.0, "about 3 days"),
        (83.0, "about 3 days"),
        (85.0, "about 4 days"),
        (89.4 * 24, "about 89 days"),
        (90 * 24, "more than 90 days"),
        (10_000.0, "more than 90 days"),
    ],
)
def test_the_time_left_is_said_with_no_false_precision(hours, phrase):
    assert time_left_phrase(hours) == phrase


@pytest.mark.parametrize(
    ("window", "phrase"),
    [
        (24 * H, "at the last day's rate"),
        (timedelta(hours=23, minutes=40), "at the last day's rate"),
        (5 * H, "at the rate of the last 5 hours"),
        (timedelta(hours=4, minutes=58), "at the rate of the last 5 hours"),
        (H, "at the last hour's rate"),
    ],
)
def test_the_window_is_said_as_the_rate_it_is(window, phrase):
    assert window_phrase(window) == phrase


def test_the_forecast_at_the_last_days_rate():
    # 24 dollars over the last day (1 an hour), 6 dollars left.
    readings = steady(24, 1.0, credits=30.0)
    result = forecast(readings, T0 + 24 * H)
    assert result == Forecast(
        state="forecast",
        phrase="About 6 hours left at the last day's rate.",
        remaining=6.0,
        rate_per_hour=1.0,
        window=24 * H,
        hours_left=6.0,
    )
    assert forecast(readings, T0 + 24 * H, remaining=72.0).phrase == "About 3 days left at the last day's rate."
    assert forecast(readings, T0 + 24 * H, remaining=0.5).phrase == "Less than an hour left at the last day's rate."


def test_out_of_credits_is_said_apart_from_a_forecast():
    readings = steady(24, 1.0, credits=24.0)
    out = forecast(readings, T0 + 24 * H)
    assert (out.state, out.hours_left, out.remaining) == ("out", None, 0.0)
    assert out.phrase == "The credits have run out."
    assert forecast(steady(24, 1.0, credits=10.0), T0 + 24 * H).state == "out"


def test_no_readings_give_no_forecast():
    result = forecast([], T0)
    assert (result.state, result.remaining, result.hours_left) == ("unknown", None, None)
    assert result.as_json() == {"state": "unknown", "phrase": "Too little recent spend history for a forecast."}


def test_the_json_answer_holds_numbers_and_strings_only():
    answer = forecast(steady(5, 2.0, credits=40.0), T0 + 5 * H).as_json()
    assert answer == {
        "state": "forecast",
        "phrase": "About 15 hours left at the rate of the last 5 hours.",
        "remaining": 30.0,
        "ratePerHour": 2.0,
        "windowHours": 5.0,
        "hoursLeft": 15.0,
    }
    assert all(isinstance(v, str | float | int) and not isinstance(v, bool) for v in answer.values())
    assert json.loads(json.dumps(answer, allow_nan=False)) == answer


def test_the_module_imports_only_the_standard_library_translation_and_words():
    tree = ast.parse((Path(__file__).resolve().parent.parent / "credits" / "forecast.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level}
    relative = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
    allowed = {"django.utils.translation", "credits.words"}
    assert relative <= {"words"}
    assert {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names} <= allowed


# --- properties ------------------------------------------------------------------------------

steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=36 * 60),  # minutes since the reading before
        st.floats(min_value=0, max_value=500, allow_nan=False),  # spend since the reading before
        st.floats(min_value=-200, max_value=500, allow_nan=False),  # credits added (a top-up) or not
    ),
    min_size=1,
    max_size=40,
)


def history(start_spend: float, moves: list[tuple[int, float, float]]) -> list[Sample]:
    at, spend, credits = T0, start_spend, 1000.0
    readings = [sample(at, spend, credits)]
    for minutes, spent, topped in moves:
        at, spend, credits = at + timedelta(minutes=minutes), spend + spent, credits + max(0.0, topped)
        readings.append(sample(at, spend, credits))
    return readings


def days_covering(readings: list[Sample]) -> int:
    return (readings[-1].at.date() - readings[0].at.date()).days + 1


@settings(max_examples=200, deadline=None)
@given(start=st.floats(min_value=0, max_value=1e4), moves=steps)
def test_with_no_reset_the_days_add_up_to_the_spend(start, moves):
    readings = history(start, moves)
    days = daily_spend(readings, days_covering(readings), readings[-1].at, UTC)
    assert math.isclose(sum(total for _day, total in days), readings[-1].spend - readings[0].spend, abs_tol=1e-6)
    assert all(total >= 0 for _day, total in days)


@settings(max_examples=200, deadline=None)
@given(
    moves=st.lists(
        st.tuples(st.integers(min_value=1, max_value=12 * 60), st.floats(min_value=0, max_value=1e4)),
        min_size=1,
        max_size=40,
    )
)
def test_a_reset_is_never_negative_spend_and_its_jump_counts_nowhere(moves):
    # Each reading's spend is drawn freely, so it goes down (a reset) as often as up.
    at, readings = T0, [sample(T0, 0.0)]
    for minutes, spend in moves:
        at += timedelta(minutes=minutes)
        readings.append(sample(at, spend))
    rises = sum(b.spend - a.spend for a, b in pairwise(readings) if b.spend >= a.spend)
    days = daily_spend(readings, days_covering(readings), readings[-1].at, UTC)
    assert all(total >= 0 for _day, total in days)
    assert math.isclose(sum(total for _day, total in days), rises, abs_tol=1e-6)
    hours = hourly_spend(readings, 40 * 12 + 1, readings[-1].at)
    assert all(total >= 0 for _hour, total in hours)
    assert math.isclose(sum(total for _hour, total in hours), rises, abs_tol=1e-6)
    rate = recent_rate(readings, readings[-1].at)
    assert rate is None or (rate.per_hour > 0 and H <= rate.window <= 24 * H)


@settings(max_examples=200, deadline=None)
@given(start=st.floats(min_value=0, max_value=1e4), moves=steps, now_after=st.integers(min_value=0, max_value=600))
def test_top_ups_and_the_order_of_readings_change_no_spend(start, moves, now_after):
    readings = history(start, moves)
    flat = [replace(s, credits=1000.0, remaining=1000.0 - s.spend) for s in readings]
    now = readings[-1].at + timedelta(minutes=now_after)
    assert daily_spend(list(reversed(readings)), 3, now, UTC) == daily_spend(flat, 3, now, UTC)
    assert recent_rate(list(reversed(readings)), now) == recent_rate(flat, now)


@settings(max_examples=200, deadline=None)
@given(start=st.floats(min_value=0, max_value=1e4), moves=steps)
def test_the_rate_is_the_spend_of_the_last_day_over_its_time(start, moves):
    readings = history(start, moves)
    now = readings[-1].at
    rate = recent_rate(readings, now)
    history_age = now - readings[0].at
    spent = readings[-1].spend - readings[0].spend
    if history_age < H or spent == 0:
        assert rate is None
        return
    inside = [s for s in readings if s.at > now - 24 * H]  # never empty: the last reading is at now
    before = [s for s in readings if s.at <= now - 24 * H]
    at_most = inside[-1].spend - (before[-1] if before else inside[0]).spend  # the straddling stretch too
    at_least = inside[-1].spend - inside[0].spend  # the stretches wholly inside
    if rate is None:  # nothing spent, or so little that the rate underflows to zero (5e-324 dollars)
        assert at_most < 1e-300
        return
    assert rate.window == min(history_age, 24 * H)
    assert rate.per_hour > 0
    assert at_least - 1e-6 <= rate.per_hour * (rate.window / H) <= at_most + 1e-6


@given(hours=st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_the_phrase_is_never_off_by_more_than_its_rounding(hours):
    phrase = time_left_phrase(hours)
    if hours < 1:
        assert phrase == "less than an hour"
    elif hours < 36:
        count = int(phrase.split()[1])
        assert phrase.endswith("hour" if count == 1 else "hours")
        assert abs(count - hours) <= 0.5
    elif hours < 90 * 24:
        count = int(phrase.split()[1])
        assert phrase == f"about {count} days"
        assert abs(count - hours / 24) <= 0.5
    else:
        assert phrase == "more than 90 days"


def test_a_spend_too_small_to_divide_gives_no_rate():
    """Found by hypothesis: 5e-324 dollars over two hours underflows to a rate of 0.0."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    samples = [Sample(start, 10.0, 0.0, 10.0), Sample(start + timedelta(hours=2), 10.0, 5e-324, 10.0)]
    assert recent_rate(samples, start + timedelta(hours=2)) is None
