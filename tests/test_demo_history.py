"""``manage.py demo_history`` (credits.testing): the sandbox demo's made-up balance history.

It refuses outside the sandbox; it writes one sample every 5 minutes, spend never going down and
``remaining = credits - spend`` throughout, a history the forecast can read; it ends at the
sandbox landing's balance (a real one over HTTP), or, with no landing answering (the tests'
default LANDING_URL is a closed port), at a made-up one; and a second run never doubles it.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from credits.forecast import forecast
from credits.models import BalanceSample
from credits.samples import Pruned, as_samples, history, prune
from credits.testing.management.commands.demo_history import End, activity, plan_history

pytestmark = pytest.mark.django_db

PER_DAY = 24 * 60 // 5  # samples a day, one every 5 minutes


@pytest.fixture
def in_sandbox(settings: Any) -> None:
    settings.CREDITS = {**settings.CREDITS, "SANDBOX": True}


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("demo_history", *args, stdout=out)
    return out.getvalue()


def ordered() -> list[BalanceSample]:
    return list(BalanceSample.objects.order_by("at", "pk"))


def assert_consistent(rows: list[BalanceSample]) -> None:
    """Times going forward, spend and credits never going down, remaining = credits - spend."""
    times = [row.at for row in rows]
    assert times == sorted(times) and len(set(times)) == len(times)
    spends = [row.spend for row in rows]
    assert spends == sorted(spends)
    credits = [row.credits for row in rows]
    assert credits == sorted(credits)
    for row in rows:
        assert row.remaining == pytest.approx(row.credits - row.spend, abs=1e-9)


def test_it_refuses_outside_the_sandbox() -> None:
    with pytest.raises(CommandError, match="only with the sandbox"):
        run()
    assert not BalanceSample.objects.exists()


@pytest.mark.parametrize("days", ["0", "91"])
def test_days_are_from_1_to_90(in_sandbox: None, days: str) -> None:
    with pytest.raises(CommandError, match="--days"):
        run("--days", days)
    assert not BalanceSample.objects.exists()


def test_without_a_landing_it_writes_a_fortnight_ending_at_a_made_up_balance(in_sandbox: None) -> None:
    before = timezone.now()
    out = run()
    rows = ordered()
    assert len(rows) == 14 * PER_DAY
    assert before - timedelta(days=14) <= rows[0].at < rows[-1].at < timezone.now()
    hours = [row.at.astimezone(UTC).replace(minute=0, second=0, microsecond=0) for row in rows if row.hourly]
    assert len(set(hours)) == len(hours) >= 14 * 24  # the first of each hour marked, as the site marks it
    assert_consistent(rows)
    assert rows[-1].remaining == 40.0  # the made-up end
    assert rows[-1].spend > rows[0].spend  # money was spent
    assert sum(b.credits > a.credits for a, b in pairwise(rows)) == 2  # a couple of top-ups
    assert min(row.remaining for row in rows) > 0
    assert out.count("\n") == 1
    assert "Wrote 4,032 balance samples" in out
    assert "a made-up $40.00 remaining (the landing did not answer" in out


def test_the_history_gives_a_forecast(in_sandbox: None) -> None:
    run()
    now = timezone.now()
    outlook = forecast(as_samples(history(now - timedelta(days=30))), now)
    assert outlook.state == "forecast"
    assert outlook.hours_left is not None and outlook.hours_left > 0


def test_working_hours_spend_more_than_nights_and_weekends(in_sandbox: None) -> None:
    run()
    rows = ordered()
    busy, quiet = [], []
    for a, b in pairwise(rows):
        (busy if activity(b.at) == 1.0 else quiet).append(b.spend - a.spend)
    assert busy and quiet
    assert sum(busy) / len(busy) > 5 * sum(quiet) / len(quiet)


def test_a_second_run_refuses_and_replace_rewrites_the_same_range(in_sandbox: None) -> None:
    run("--days", "2")
    assert BalanceSample.objects.count() == 2 * PER_DAY
    with pytest.raises(CommandError, match=r"already 576 balance samples .* --replace"):
        run("--days", "2")
    assert BalanceSample.objects.count() == 2 * PER_DAY
    out = run("--days", "2", "--replace")
    assert "replacing 576 samples" in out
    assert BalanceSample.objects.count() == 2 * PER_DAY
    assert_consistent(ordered())


def test_it_ends_at_the_sandbox_landings_balance(sandbox: Any, in_sandbox: None) -> None:
    sandbox.state.configure(credits=700, spend=650)
    out = run()
    *history_rows, reading = ordered()  # the landing's reading, recorded as today's first sample
    assert len(history_rows) == 14 * PER_DAY
    assert (reading.credits, reading.spend, reading.remaining) == (700.0, 650.0, 50.0)
    last = history_rows[-1]
    assert (last.credits, last.spend, last.remaining) == (700.0, 650.0, 50.0)
    assert_consistent([*history_rows, reading])  # no reset where the history joins the readings
    assert "ending at the sandbox landing's balance ($50.00 remaining)" in out


def test_a_sandbox_that_spent_less_is_moved_on_so_the_history_joins(sandbox: Any, in_sandbox: None) -> None:
    out = run("--days", "2")  # the sandbox: $10 of credits, nothing spent yet
    *history_rows, reading = ordered()
    assert reading.spend == history_rows[-1].spend > 0  # its spend moved on to the history's
    assert reading.remaining == history_rows[-1].remaining == 10.0  # its remaining kept
    assert sandbox.state.read_balance()["remaining"] == 10.0
    assert_consistent([*history_rows, reading])  # no reset where the history joins the readings
    assert "ending at the sandbox landing's balance ($10.00 remaining)" in out
    now = timezone.now()
    assert forecast(as_samples(history(now - timedelta(days=30))), now).state == "forecast"


def test_a_reading_taken_while_it_runs_is_not_joined_twice(sandbox: Any, in_sandbox: None) -> None:
    """A worker samples the fresh sandbox (nothing spent) after the command asked where to end,
    before its spend is moved on: a history written beside that reading would count the spend
    again (down to 0, a reset, then up to the history's). It refuses; --replace joins exactly."""
    from credits.balance import read_balance
    from credits.testing.management.commands import demo_history

    real_catch_up = demo_history.catch_up

    def worker_reads_meanwhile(end: End, spent_cents: int) -> End:
        read_balance()
        return real_catch_up(end, spent_cents)

    with (
        mock.patch.object(demo_history, "catch_up", worker_reads_meanwhile),
        pytest.raises(CommandError, match=r"already 1 balance samples .* on; .* --replace"),
    ):
        run("--days", "2")
    assert BalanceSample.objects.count() == 1  # the worker's reading, and nothing of the history
    run("--days", "2", "--replace")  # the sandbox, moved on already, is where it ends
    assert_consistent(ordered())
    assert BalanceSample.objects.count() == 2 * PER_DAY + 1


def test_a_sandbox_that_cannot_be_moved_on_is_said_to_leave_a_gap(in_sandbox: None, settings: Any) -> None:
    import respx

    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": "http://sandbox.test"}
    with respx.mock(assert_all_called=True) as mock:
        mock.get("http://sandbox.test/sandbox/state").respond(json={"credits": 10.0, "spend": 0.0, "remaining": 10.0})
        mock.post("http://sandbox.test/sandbox/configure").respond(500)
        mock.get("http://sandbox.test/api/reef/credits").respond(
            json={"credits": 10.0, "spend": 0.0, "remaining": 10.0}
        )
        out = run("--days", "1")
    assert "could not be moved on (HTTPStatusError" in out and "shows as a landing reset (one gap)" in out


def test_a_longer_history_is_written_as_the_retention_keeps_it(in_sandbox: None) -> None:
    run("--days", "20")
    rows = ordered()
    assert_consistent(rows)
    line = rows[-1].at - timedelta(days=14)
    older = [row for row in rows if row.at < line - timedelta(hours=1)]
    assert all(row.hourly for row in older)  # one an hour, the first of each
    hours = [row.at.astimezone(UTC).replace(minute=0, second=0, microsecond=0) for row in older]
    assert len(set(hours)) == len(hours) and 6 * 24 - 3 <= len(hours) <= 6 * 24 + 1  # for 6 days
    assert 14 * PER_DAY <= len(rows) - len(older) <= 14 * PER_DAY + 13 + 12  # every one after
    assert prune(now=rows[-1].at) == Pruned(0, 0)  # nothing left for the pruning to do


def test_the_same_seed_gives_the_same_figures() -> None:
    until, end = datetime(2025, 3, 14, 12, tzinfo=UTC), End(credits=5000, spend=1000)

    def figures(seed: int) -> list[tuple[datetime, float, float, float]]:
        plan = plan_history(until, end, 3, timedelta(minutes=5), seed)
        return [(row.at, row.credits, row.spend, row.remaining) for row in plan.rows]

    assert figures(7) == figures(7)
    assert figures(7) != figures(8)


def test_if_empty_writes_nothing_over_a_history_and_succeeds(in_sandbox: None) -> None:
    run("--days", "1")
    count = BalanceSample.objects.count()
    assert "nothing written" in run("--days", "2", "--if-empty")
    assert BalanceSample.objects.count() == count
