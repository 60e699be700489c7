"""The spend history at 10³ and at 10⁶ balance samples: what ``GET /ui/api/spend?days=30``,
the credits page and one run of the sampler cost, side by side, in one run on this machine.

Everything in this one process: the site as production has it (reef_site.settings, DEBUG off,
bench/serve.py's ``site_environment``; the cache in this process's memory), driven through
Django's test Client with a user logged in by ``force_login``, and the sandbox landing
(``credits.testing.SandboxLanding``) over real HTTP on loopback. SQLite (a file in a temporary
folder) by default; ``--postgres URL`` runs it on a throwaway PostgreSQL database instead
(psycopg's pool, as in production), dropped at the end.

For each size the table ``credits_balancesample`` is emptied and filled (SQLite: one
``executemany``; PostgreSQL: one ``INSERT ... SELECT`` over ``generate_series``, then
``VACUUM ANALYZE``) with that many samples spread evenly over the last 14 days, spend rising
steadily. That is where the retention keeps every sample (older ones are thinned to one an
hour, at most 9,600 in 400 days), so a table of a million samples holds about a million in the
last 30 days, the window both requests read. Then, timed one at a time:

* ``GET /ui/api/spend?days=30``: the daily spend, the rate and the forecast (JSON);
* ``GET`` of the credits page (``credits_pages:page``): the balance (cached for the bench's
  length, so no page waits on the landing), the chart, its table and the header's forecast;
* one run of the sampler, :func:`credits.samples.sample_once` as the background worker and
  ``manage.py sample_balance`` run it: the balance read from the landing (the cache emptied and
  the sandbox's spend moved on first, so it is a new reading, recorded), the receivers of the
  reading (the sample's INSERT, the auto top-up rule, the low-credits alert), and the pruning,
  made due before each run (the worker prunes at most once an hour); the pruning's own share
  is timed too.

``--n`` requests (and ``--runs`` sampler runs) each, after ``--warmup`` untimed ones at the
first size (at the second the code is warm, and a warm-up would cost as much as a count), but a
figure stops once it has taken ``--budget`` seconds with ``--min-n`` counted, so a slow figure
is a short one (its n is printed). Prints a table of p50 and p95 in ms and the ratios 10⁶/10³.

    .venv/bin/python bench/history.py [--n 50 --runs 20 --budget 10 --postgres postgres://postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import secrets
import signal
import sqlite3
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serve import (  # noqa: E402
    Run,
    cpu_model,
    create_database,
    drop_database,
    free_port,
    loadavg,
    server_url,
    site_environment,
)

SIZES = (1_000, 1_000_000)
SPAN = timedelta(days=14)  # the samples lie in the last 14 days (every one kept by the retention)
CREDITS = 1_000_000.0  # never run out during the bench
SPEND = 5_000.0  # dollars spent over the span, evenly
FIGURES = ("spend", "page", "sampler", "prune")


# --- filling the table ------------------------------------------------------------------------------


def span_ends() -> tuple[datetime, timedelta]:
    """Where the samples lie: the first one's time and the length of the stretch, the last
    :data:`SPAN` but its first hour (so none ages past the retention's line while the bench
    runs) up to a minute ago."""
    from django.utils import timezone

    now = timezone.now()
    return now - SPAN + timedelta(hours=1), SPAN - timedelta(hours=1, minutes=1)


PG_FILL = """
INSERT INTO credits_balancesample (at, credits, spend, remaining, hourly)
SELECT %(first)s + g * %(step)s, %(credits)s, g * %(per)s, %(credits)s - g * %(per)s, false
FROM generate_series(0, %(last)s) AS g
"""
# The first sample of each hour (UTC), as credits.samples marks it when it writes one.
MARK_HOURS = """
UPDATE credits_balancesample SET hourly = true WHERE id IN (
  SELECT DISTINCT ON (date_trunc('hour', at AT TIME ZONE 'UTC')) id FROM credits_balancesample
  ORDER BY date_trunc('hour', at AT TIME ZONE 'UTC'), at
)
"""


def fill(count: int) -> float:
    """Empty the samples and insert ``count`` of them, spread evenly over the span, in one
    transaction (PostgreSQL: then VACUUM ANALYZE, as autovacuum would soon); seconds taken."""
    from django.db import connection, transaction

    first, length = span_ends()
    step = length / max(count - 1, 1)
    per = SPEND / max(count - 1, 1)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:  # one commit, not one a row
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE credits_balancesample")
            cursor.execute("SET LOCAL synchronous_commit TO off")
            cursor.execute(PG_FILL, {"first": first, "step": step, "credits": CREDITS, "per": per, "last": count - 1})
            cursor.execute(MARK_HOURS)
        else:
            adapt = connection.ops.adapt_datetimefield_value
            cursor.execute("DELETE FROM credits_balancesample")
            rows = (
                (adapt(at), CREDITS, k * per, CREDITS - k * per, _first_of_hour(at, step))
                for k, at in ((k, first + k * step) for k in range(count))
            )
            cursor.executemany(
                "INSERT INTO credits_balancesample (at, credits, spend, remaining, hourly) VALUES (%s, %s, %s, %s, %s)",
                rows,
            )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE credits_balancesample")
    return time.perf_counter() - started


def _first_of_hour(at: datetime, step: timedelta) -> bool:
    """Whether ``at`` is the first of the evenly spaced samples in its hour (UTC)."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0) > at - step


def sample_count() -> int:
    from credits.models import BalanceSample

    return BalanceSample.objects.count()


# --- measuring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    n: int
    warmup: int
    budget: float  # seconds a figure may take once it has min_n counted
    min_n: int


def timed(action: Callable[[], None], limits: Limits, n: int, before: Callable[[], None] | None = None) -> Run:
    """``limits.warmup`` untimed calls of ``action``, then up to ``n`` timed ones (``before``
    each, untimed), stopping early once ``limits.budget`` seconds went by with ``limits.min_n``
    counted."""
    run = Run()
    for _ in range(limits.warmup):
        if before is not None:
            before()
        action()
    began = time.perf_counter()
    while len(run.latencies) < n:
        if len(run.latencies) >= limits.min_n and time.perf_counter() - began > limits.budget:
            break
        if before is not None:
            before()
        started = time.perf_counter()
        action()
        run.add(time.perf_counter() - started, None)
    run.seconds = time.perf_counter() - began
    return run


def get_ok(client: Any, url: str) -> Callable[[], None]:
    """A GET of ``url`` that must answer 200 (a failing page would be a fast, wrong figure)."""

    def get() -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")

    return get


@dataclass
class Sampler:
    """One sampler run as the worker's: a new reading (the cache emptied, the sandbox's spend
    moved on a cent), the pruning made due; the pruning's own time kept aside."""

    landing: Any
    prune_ms: list[float] = field(default_factory=list)

    def prepare(self) -> None:
        from django.utils import timezone

        from credits.balance import remember_balance
        from credits.models import Schedule
        from credits.samples import PRUNER

        remember_balance(None)
        spend = self.landing.state.read_balance()["spend"]
        self.landing.state.configure(spend=round(spend + 0.01, 2))
        Schedule.objects.update_or_create(name=PRUNER, defaults={"due_at": timezone.now() - timedelta(seconds=1)})

    def run(self) -> None:
        from credits import samples

        taken, pruned = samples.sample_once()
        if not taken.recorded or pruned is None or "failed" in pruned:
            raise RuntimeError(f"the sampler did not record and prune: {taken}; {pruned}")

    @contextlib.contextmanager
    def timing_the_prune(self) -> Iterator[None]:
        """``credits.samples.prune_if_due`` (which ``sample_once`` calls) timed while inside."""
        from credits import samples

        plain = samples.prune_if_due

        def timed_prune() -> Any:
            started = time.perf_counter()
            try:
                return plain()
            finally:
                self.prune_ms.append((time.perf_counter() - started) * 1000)

        samples.prune_if_due = timed_prune
        try:
            yield
        finally:
            samples.prune_if_due = plain


def measure_size(
    count: int, client: Any, urls: dict[str, str], sampler: Sampler, limits: Limits, runs: int
) -> dict[str, Run]:
    """Fill the table with ``count`` samples and take every figure."""
    seconds = fill(count)
    print(f"  {count:>9,} samples inserted in {seconds:.1f} s", flush=True)
    figures = {
        "fill": Run(seconds=seconds),
        "spend": timed(get_ok(client, urls["spend"]), limits, limits.n),
        "page": timed(get_ok(client, urls["page"]), limits, limits.n),
    }
    sampler.prune_ms.clear()
    with sampler.timing_the_prune():
        figures["sampler"] = timed(sampler.run, limits, runs, before=sampler.prepare)
    counted = sampler.prune_ms[limits.warmup :]
    figures["prune"] = Run(latencies=counted, seconds=sum(counted) / 1000)
    for key in FIGURES:
        run = figures[key]
        print(f"    {key:<8} n {len(run.latencies):3d}  p50 {run.p(50):9.2f} ms  p95 {run.p(95):9.2f} ms", flush=True)
    return figures


# --- the report -----------------------------------------------------------------------------------


NAMES = {
    "spend": "GET /ui/api/spend?days=30",
    "page": "GET credits page (credits_pages:page)",
    "sampler": "sampler run (sample_once, with prune)",
    "prune": "  of which the pruning",
}


def report(results: dict[int, dict[str, Run]], header: list[str]) -> str:
    small, large = SIZES
    lines = [*header, ""]
    lines.append(f"{'ms':<40}{'10³ samples':>26}{'10⁶ samples':>28}   {'10⁶/10³':>9}")
    lines.append(f"{'':<40}{'n':>6}{'p50':>10}{'p95':>10}{'n':>8}{'p50':>10}{'p95':>10}   {'p50':>9}")
    for key in FIGURES:
        a, b = results[small][key], results[large][key]
        ratio = b.p(50) / a.p(50) if a.p(50) > 0 else float("nan")
        lines.append(
            f"{NAMES[key]:<40}{len(a.latencies):6d}{a.p(50):10.2f}{a.p(95):10.2f}"
            f"{len(b.latencies):8d}{b.p(50):10.1f}{b.p(95):10.1f}   {ratio:8.1f}x"
        )
    return "\n".join(lines)


# --- the run --------------------------------------------------------------------------------------


def set_up(args: argparse.Namespace, landing_url: str, token: str, workdir: Path) -> tuple[str, str]:
    """The site's environment in this process, Django set up, the database made and migrated;
    the database's name and the throwaway database's name ("" on SQLite)."""
    database = f"reef_history_{os.getpid()}" if args.postgres else ""
    extra = {
        "CACHE_URL": "locmemcache://",  # one process: its own memory (sessions then in the database)
        "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",  # the test Client's host
        "LOG_LEVEL": "WARNING",
    }
    if not args.postgres:
        extra["DATABASE_URL"] = f"sqlite:///{workdir / 'history.sqlite3'}"
    # serve.py's environment; its Redis (database 0 here) is never used: CACHE_URL is this process's memory.
    env = site_environment("reef_site.settings", args.postgres or "", database, 0, landing_url, token, **extra)
    if args.postgres:
        create_database(args.postgres, database)
    os.environ.update(env)
    warnings.filterwarnings("ignore", message="No directory at")  # WhiteNoise: no collectstatic for the bench
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            row = cursor.fetchone()
        return f"PostgreSQL {row[0] if row else '?'} (psycopg's pool)", database
    return f"SQLite {sqlite3.sqlite_version} (WAL, a file)", database


def tear_down(postgres: str | None, database: str, django_ready: bool) -> None:
    """Close this process's connections (and pool), drop the throwaway database."""
    if django_ready:
        from django.db import connections

        for conn in connections.all():
            conn.close()
            close_pool = getattr(conn, "close_pool", None)
            if close_pool is not None:
                close_pool()
    if postgres and database:
        with contextlib.suppress(Exception):
            drop_database(postgres, database)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50, help="timed requests per figure (fewer past --budget)")
    parser.add_argument("--runs", type=int, default=20, help="timed sampler runs per size (fewer past --budget)")
    parser.add_argument(
        "--warmup", type=int, default=3, help="untimed requests (and runs) before each figure at the first size"
    )
    parser.add_argument("--budget", type=float, default=10.0, help="seconds a figure may take once it has --min-n")
    parser.add_argument("--min-n", type=int, default=3, help="timed requests a figure takes whatever its time")
    parser.add_argument(
        "--postgres",
        type=server_url,
        default=None,
        help="run on PostgreSQL at this server (a database in the URL is ignored: a throwaway one is made and "
        "dropped); default SQLite",
    )
    args = parser.parse_args()
    limits = Limits(args.n, args.warmup, args.budget, args.min_n)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the database is dropped

    began = time.monotonic()
    token = secrets.token_urlsafe(32)
    landing_port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="reef-history-bench-"))
    database, django_ready = "", False
    try:
        engine, database = set_up(args, f"http://127.0.0.1:{landing_port}", token, workdir)
        django_ready = True
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.test import Client, override_settings
        from django.urls import reverse

        from credits.balance import get_balance
        from credits.testing import SandboxLanding

        header = [
            f"bench/history.py: the spend history in one process (Django's test Client, DEBUG off), {engine}, "
            "the sandbox landing on loopback",
            f"machine: nproc {len(os.sched_getaffinity(0))}, {cpu_model()}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}; load average at start {loadavg()}",
        ]
        print(header[0], flush=True)
        cached = {**settings.CREDITS, "BALANCE_CACHE_SECONDS": 3600}  # no page waits on the landing
        with override_settings(CREDITS=cached), SandboxLanding(token, port=landing_port, credits=CREDITS) as landing:
            landing.state.configure(spend=SPEND)  # its readings go on from the filled history's spend
            user = get_user_model().objects.create_user("history-bench")
            client = Client()
            client.force_login(user)
            urls = {"spend": reverse("credits:spend") + "?days=30", "page": reverse("credits_pages:page")}
            get_balance()  # the balance cached for the pages (the sampler's runs read it afresh)
            results = {}
            for count in SIZES:
                results[count] = measure_size(count, client, urls, Sampler(landing), limits, args.runs)
                limits = replace(limits, warmup=0)  # the code is warm: a warm-up at 10⁶ would cost as much as a count
                print(f"  ({sample_count():,} samples after the sampler's runs; {time.monotonic() - began:.0f} s)")
        header[-1] += f", at end {loadavg()}"
        header.append(
            f"samples spread evenly over the last 14 days; up to {args.n} requests and {args.runs} sampler runs "
            f"per figure ({args.warmup} warm-up at 10³), fewer once a figure took {args.budget:g} s "
            f"(at least {args.min_n}); inserted in {results[SIZES[0]]['fill'].seconds:.1f} s and "
            f"{results[SIZES[1]]['fill'].seconds:.1f} s; {time.monotonic() - began:.0f} s in all"
        )
        print()
        print(report(results, header))
        return 0
    finally:
        tear_down(args.postgres, database, django_ready)
        for path in workdir.glob("*"):
            path.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
