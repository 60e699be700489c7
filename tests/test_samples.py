"""The balance's history (credits.samples): samples from real readings, one a minute unless the
figures changed, retention, the sampling chain, and one chain with real worker processes.

Against the real sandbox landing over HTTP (in this process), except the test with worker
processes, whose landing counts its readings and can be slowed.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from credits import samples
from credits.balance import get_balance, read_balance
from credits.models import BalanceSample, Schedule, SettledBy, TopupAttempt
from credits.samples import (
    PRUNER,
    SAMPLER,
    add_samples,
    history,
    prune,
    prune_if_due,
    record_sample,
    sample_balance,
    start_sampling,
)
from credits.signals import balance_read, topup_succeeded

TEN = {"credits": 10.0, "spend": 0.0, "remaining": 10.0}


def figures(sample: BalanceSample) -> dict[str, float]:
    return {"credits": sample.credits, "spend": sample.spend, "remaining": sample.remaining}


def all_figures() -> list[dict[str, float]]:
    return [figures(s) for s in BalanceSample.objects.order_by("at", "pk")]


def links() -> list[Any]:
    from django_tasks_db.models import DBTaskResult

    return list(DBTaskResult.objects.filter(task_path="credits.samples.sample_balance", status="READY"))


def due_link() -> str:
    return Schedule.objects.get(name=SAMPLER).due_at.isoformat()


# --- Recording ---------------------------------------------------------------------------------


def test_a_reading_from_the_landing_is_kept(sandbox, db):
    before = timezone.now()
    assert read_balance() == TEN
    sample = BalanceSample.objects.get()
    assert figures(sample) == TEN
    assert before <= sample.at <= timezone.now()
    assert sample.hourly  # the first of its hour


def test_the_same_figures_within_a_minute_are_one_sample_and_changed_ones_two(sandbox, db):
    read_balance()
    read_balance()
    assert all_figures() == [TEN]
    sandbox.state.configure(spend=2.5)
    read_balance()
    read_balance()
    assert all_figures() == [TEN, {"credits": 10.0, "spend": 2.5, "remaining": 7.5}]


def test_the_same_figures_a_minute_later_are_a_new_sample(db):
    start = timezone.now() - timedelta(minutes=5)
    assert record_sample(TEN, start) is True
    assert record_sample(TEN, start + timedelta(seconds=59)) is False
    assert record_sample(TEN, start + timedelta(seconds=61)) is True
    assert BalanceSample.objects.count() == 2


def test_figures_that_come_back_are_compared_with_the_latest_sample(db):
    start = timezone.now() - timedelta(minutes=5)
    low = {"credits": 10.0, "spend": 9.0, "remaining": 1.0}
    assert record_sample(TEN, start)
    assert record_sample(low, start + timedelta(seconds=1))
    assert record_sample(TEN, start + timedelta(seconds=2))  # back: it changed since the latest
    assert record_sample(TEN, start + timedelta(seconds=3)) is False


def test_deciding_costs_one_statement(db):
    record_sample(TEN)
    with CaptureQueriesContext(connection) as queries:
        assert record_sample(TEN) is False
        assert record_sample({**TEN, "spend": 1.0, "remaining": 9.0}) is True
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert [s for s in statements if s not in ("SAVEPOINT", "RELEASE")] == ["INSERT", "INSERT"]


def test_elsewhere_the_latest_is_read_first_with_the_same_rule(db):
    """Databases other than PostgreSQL and SQLite: read the latest sample, then insert."""
    start = timezone.now() - timedelta(minutes=5)
    figures_ = tuple(TEN.values())
    assert samples._read_then_insert("default", start, figures_) is True
    assert samples._read_then_insert("default", start + timedelta(seconds=30), figures_) is False
    assert samples._read_then_insert("default", start + timedelta(seconds=31), (10.0, 1.0, 9.0)) is True
    assert samples._read_then_insert("default", start + timedelta(seconds=95), (10.0, 1.0, 9.0)) is True
    assert BalanceSample.objects.count() == 3


def test_a_reading_from_the_cache_adds_none(sandbox, api):
    assert api.balance().status_code == 200  # from the landing (the async path): one sample
    sandbox.state.configure(spend=1.0)  # the landing changed, the cache still holds the old reading
    assert api.balance().json()["remaining"] == 10.0
    assert get_balance() == TEN
    assert all_figures() == [TEN]


def test_a_top_up_answer_with_a_balance_adds_one(sandbox, api):
    assert api.topup({"amountCents": 1000}).status_code == 200
    assert all_figures() == [{"credits": 20.0, "spend": 0.0, "remaining": 20.0}]


def test_a_settlements_balance_is_a_replay_and_adds_none(db, user):
    attempt = TopupAttempt.objects.create(user=user, amount_cents=1000, idempotency_key="k", settled_by=SettledBy.SWEEP)
    topup_succeeded.send(TopupAttempt, attempt=attempt, balance={"credits": 20.0, "spend": 0.0, "remaining": 20.0})
    topup_succeeded.send(TopupAttempt, attempt=TopupAttempt(user=user, amount_cents=500), balance=None)
    assert BalanceSample.objects.count() == 0


def test_a_failure_to_record_is_logged_and_the_transaction_goes_on(sandbox, db, monkeypatch, caplog):
    def broken(using, at, figures):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr(samples, "_insert_unless_the_same", broken)
    monkeypatch.setattr(samples, "_read_then_insert", broken)
    with transaction.atomic():
        assert read_balance() == TEN  # the request goes on
        assert TopupAttempt.objects.count() == 0  # and its transaction still works (PostgreSQL)
    assert "balance samples: a balance reading could not be recorded" in caplog.text
    balance_read.send_robust(None, balance={"credits": 1.0}, asked=timezone.now())  # no figures: logged too
    assert caplog.text.count("could not be recorded") == 2


def test_a_month_of_history_is_a_range_of_the_index(db):
    now = timezone.now()
    add_samples(
        BalanceSample(at=now - timedelta(hours=h, minutes=m), credits=10.0, spend=h / 100, remaining=10 - h / 100)
        for h in range(400 * 24)
        for m in ((0, 10, 20, 30) if h < 24 * 7 else (0,))  # four readings an hour in the last week
    )
    with CaptureQueriesContext(connection) as queries:
        month = history(now - timedelta(days=30), now)
    hours = [row.at.replace(minute=0, second=0, microsecond=0) for row in month[:-1]]
    assert len(set(hours)) == len(hours) and 30 * 24 - 1 <= len(hours) <= 30 * 24 + 1  # the first of each hour
    assert month[-1].at == now - timedelta(minutes=10)  # and the newest
    assert [row.at for row in month] == sorted(row.at for row in month)
    assert len(queries) == 2
    with connection.cursor() as cursor:
        for query in queries.captured_queries:  # each a range of an index, never a scan of the table
            if connection.vendor == "sqlite":
                cursor.execute(f"EXPLAIN QUERY PLAN {query['sql']}")
                plan = " ".join(str(row) for row in cursor.fetchall())
                assert "USING INDEX" in plan and "SCAN credits_balancesample " not in plan + " ", plan
            else:
                cursor.execute("ANALYZE credits_balancesample")
                cursor.execute(f"EXPLAIN {query['sql']}")
                plan = " ".join(row[0] for row in cursor.fetchall())
                assert "Index" in plan and "Seq Scan" not in plan, plan


# --- Retention ---------------------------------------------------------------------------------


def add(at: datetime, remaining: float = 10.0) -> BalanceSample:
    """A sample recorded as the site records one (``hourly`` when it is the first of its hour)."""
    assert record_sample({"credits": 10.0, "spend": 10.0 - remaining, "remaining": remaining}, at)
    return BalanceSample.objects.get(at=at)


def test_the_first_sample_of_each_hour_is_marked_when_it_is_written(db):
    hour = datetime(2026, 6, 1, 9, tzinfo=UTC)
    marks = [add(hour + timedelta(minutes=m), remaining=m).hourly for m in (5, 20, 59)]
    marks.append(add(hour + timedelta(hours=1), remaining=60).hourly)  # the next hour's first
    assert marks == [True, False, False, True]


def test_pruning_keeps_14_days_then_the_first_of_each_hour_and_nothing_past_400_days(db):
    now = datetime(2026, 6, 30, 12, 20, tzinfo=UTC)
    recent = [add(now - timedelta(days=13, minutes=m), remaining=100 + m) for m in range(0, 50, 10)]  # all kept
    hour = datetime(2026, 6, 1, 9, tzinfo=UTC)  # an hour 29 days back: its first sample is kept
    in_hour = [add(hour + timedelta(minutes=m), remaining=m) for m in (0, 15, 30, 59)]
    alone = add(hour + timedelta(hours=1, minutes=5))  # the next hour's only sample
    old = add(now - timedelta(days=399), remaining=1)
    for days in (401, 500):  # expired
        add(now - timedelta(days=days), remaining=days)

    result = prune(now)

    kept = set(BalanceSample.objects.values_list("pk", flat=True))
    assert kept == {s.pk for s in [*recent, in_hour[0], alone, old]}
    assert (result.thinned, result.expired) == (3, 2)
    again = prune(now + timedelta(hours=1))
    assert (again.thinned, again.expired) == (0, 0)


def test_pruning_is_a_few_statements_however_many_samples(db):
    now = timezone.now()
    add_samples(
        BalanceSample(at=now - timedelta(days=15, minutes=m), credits=10.0, spend=0.0, remaining=10.0)
        for m in range(600)
    )
    with CaptureQueriesContext(connection) as queries:
        result = prune(now)
    assert result.thinned == 600 - 10 or result.thinned == 600 - 11  # one kept per hour (10 or 11 hours)
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert [s for s in statements if s not in ("SAVEPOINT", "RELEASE")] == ["DELETE", "DELETE"]  # no row read


def test_pruning_runs_once_an_hour_whoever_asks(db):
    Schedule.objects.filter(name=PRUNER).delete()
    assert prune_if_due() is not None  # the first turn
    assert prune_if_due() is None
    Schedule.objects.filter(name=PRUNER).update(due_at=timezone.now() - timedelta(seconds=1))
    assert prune_if_due() is not None
    assert prune_if_due() is None


# --- The sampling chain ------------------------------------------------------------------------


def test_starting_twice_leaves_one_chain(db):
    from django_tasks_db.models import DBTaskResult

    Schedule.objects.filter(name=SAMPLER).update(due_at=timezone.now() - timedelta(hours=1))  # dead
    first = links()
    assert start_sampling() is True
    assert start_sampling() is False  # one lives
    new = [link for link in links() if link not in first]
    assert len(new) == 1 and new[0].args_kwargs == {"args": [due_link()], "kwargs": {}}
    # Every older link left in the queue is superseded when it runs: it does nothing.
    for link in first:
        assert sample_balance.call(*link.args_kwargs["args"]) == "superseded"
    assert DBTaskResult.objects.filter(task_path="credits.samples.sample_balance").count() == len(first) + 1


def test_a_link_queues_the_next_then_samples_and_a_superseded_one_does_nothing(sandbox, db):
    sandbox.state.configure(spend=1.0)
    Schedule.objects.filter(name=SAMPLER).update(due_at=timezone.now() - timedelta(hours=1))
    start_sampling()
    due = due_link()
    said = sample_balance.call(due)
    assert said.startswith("recorded: credits $10.00, spend $1.00, remaining $9.00")
    assert all_figures() == [{"credits": 10.0, "spend": 1.0, "remaining": 9.0}]
    following = max(links(), key=lambda link: link.enqueued_at)
    assert following.args_kwargs == {"args": [due_link()], "kwargs": {}}
    assert following.run_after.isoformat() == due_link() > due
    assert datetime.fromisoformat(due_link()) - datetime.fromisoformat(due) >= timedelta(minutes=5)
    # The same link again (a second worker, or a copy): it moved on already, and does nothing.
    cache.clear()
    sandbox.state.configure(spend=2.0)
    queued = len(links())
    assert sample_balance.call(due) == "superseded"
    assert BalanceSample.objects.count() == 1 and len(links()) == queued


def test_a_link_leaves_the_landing_alone_when_a_page_read_it_moments_ago(sandbox, db):
    get_balance()  # a page: one reading, recorded, and in the cache
    Schedule.objects.filter(name=SAMPLER).update(due_at=timezone.now() - timedelta(hours=1))
    start_sampling()
    assert sample_balance.call(due_link()).startswith("not read: a page read the balance within 10 s")
    assert BalanceSample.objects.count() == 1


def test_a_dead_chain_is_started_again(db):
    Schedule.objects.filter(name=SAMPLER).update(due_at=timezone.now() - timedelta(minutes=16))
    assert start_sampling() is True
    assert Schedule.objects.get(name=SAMPLER).due_at > timezone.now() - timedelta(seconds=5)
    Schedule.objects.filter(name=SAMPLER).update(due_at=timezone.now() - timedelta(minutes=14))  # late, not dead
    assert start_sampling() is False


def test_with_a_backend_that_cannot_wait_there_is_no_chain(db, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    Schedule.objects.filter(name=SAMPLER).update(due_at=timezone.now() - timedelta(hours=1))
    assert start_sampling() is False


# --- The command -------------------------------------------------------------------------------


def test_the_command_samples_once_and_says_what_it_recorded(sandbox, db, capsys):
    Schedule.objects.filter(name=PRUNER).update(due_at=timezone.now() - timedelta(seconds=1))
    call_command("sample_balance")
    out = capsys.readouterr().out
    assert "Balance recorded: credits $10.00, spend $0.00, remaining $10.00." in out
    assert "Samples pruned 0 thinned, 0 expired." in out
    assert all_figures() == [TEN]
    call_command("sample_balance")  # the reading is in the cache: a page (or this) read it just now
    assert "Balance not read: a page read the balance within 10 s" in capsys.readouterr().out
    cache.clear()
    call_command("sample_balance")
    assert "the same as the sample of the last minute, not recorded again." in capsys.readouterr().out
    assert BalanceSample.objects.count() == 1


def test_the_command_fails_when_the_landing_cannot_say(db):
    """The test settings point at a port where nothing listens."""
    with pytest.raises(CommandError, match="The balance was not read: "):
        call_command("sample_balance")
    assert BalanceSample.objects.count() == 0


# --- One chain, with real worker processes -----------------------------------------------------


class CountingLanding(ThreadingHTTPServer):
    """A landing that answers the balance only, with a spend that grows by a cent each reading
    (so every reading is a new sample), after ``delay`` seconds; it counts readings in flight."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _CountingHandler)
        self.lock = threading.Lock()
        self.reads = 0
        self.in_flight = 0
        self.delay = 0.0
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a worker killed while it waited: the answer has nowhere to go


class _CountingHandler(BaseHTTPRequestHandler):
    server: CountingLanding
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.reads += 1
            self.server.in_flight += 1
            cents = self.server.reads
        try:
            time.sleep(self.server.delay)
            body = json.dumps({"credits": 100.0, "spend": cents / 100, "remaining": (10_000 - cents) / 100}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            with self.server.lock:
                self.server.in_flight -= 1


@pytest.fixture
def counting_landing(settings: Any) -> Any:
    server = CountingLanding()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": server.url, "SAMPLE_MINUTES": 0.01}  # 0.6 s
    yield server
    server.shutdown()
    server.server_close()


def started_links(since: datetime) -> list[datetime]:
    """When each link that went ahead (not superseded) started, since ``since``."""
    from django_tasks_db.models import DBTaskResult

    rows = DBTaskResult.objects.filter(task_path="credits.samples.sample_balance", started_at__gte=since)
    return sorted(r.started_at for r in rows if r.return_value != "superseded")


@pytest.mark.django_db(transaction=True)
def test_one_chain_lives_after_two_workers_are_killed_and_restarted_at_once(counting_landing, processes):
    """Two db_workers run the chain, with stale and copied links queued; both are killed by
    SIGKILL while a link waits on the landing (it has queued the next one), and two start again
    at once. One chain goes on: the links start at least an interval apart, and the samples per
    interval are one, not two."""
    from tests.processes import wait_for

    interval = 0.6
    # Copies to lose: the chain migrate started is found dead (its link is still queued) and
    # started again, and a second machine queues a copy of the new link.
    Schedule.objects.filter(name=SAMPLER).update(due_at=timezone.now() - timedelta(hours=1))
    assert start_sampling() is True
    sample_balance.using(run_after=timezone.now()).enqueue(due_link())
    assert len(links()) == 3
    first = [processes.worker(), processes.worker()]

    wait_for(lambda: counting_landing.reads >= 3, 30, "the workers did not sample")
    counting_landing.delay = 3.0
    wait_for(lambda: counting_landing.in_flight >= 1, 10, "no link waited on the landing")
    for worker in first:
        worker.kill()
    counting_landing.delay = 0.0
    restarted = timezone.now()
    for _ in range(2):
        processes.worker()
    assert start_sampling() is False  # a deploy's migrate, meanwhile: the chain lives
    wait_for(lambda: len(started_links(restarted)) >= 2, 30, "the chain did not go on after the restart")
    window_start = timezone.now()
    time.sleep(6.0)
    window_end = timezone.now()

    went_ahead = started_links(restarted)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(went_ahead)]
    assert min(gaps) >= interval - 0.01, gaps  # two chains would interleave
    in_window = [t for t in went_ahead if window_start <= t < window_end]
    seconds = (window_end - window_start).total_seconds()
    assert 3 <= len(in_window) <= seconds / interval + 1, (len(in_window), seconds)
    taken = BalanceSample.objects.filter(at__gte=window_start, at__lt=window_end).count()
    assert 3 <= taken <= seconds / interval + 1, (taken, seconds)
    assert len(links()) <= 1  # one next link queued (none for the moment a worker holds it)
    assert start_sampling() is False
