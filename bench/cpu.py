"""CPU time per request of one server process: what each request costs the worker that serves
it, read from the kernel's own count, under the production ASGI server and under a threaded
WSGI server, in one run on this machine.

Six requests, each sent one at a time (one client, a connection kept alive, no concurrency),
``--warmup`` times and then ``--n`` times counted, in ``--rounds`` turns (the six in turn,
``REWARM`` warm-up requests again before each later turn's count), so that a shared machine
whose speed drifts during the run shifts every figure alike and the ratios stay fair:

* the top-up, ``POST /ui/api/topup-credits`` (logged in, CSRF, a fresh Idempotency-Key each
  time, the sandbox landing answering at once; spread over enough users that none reaches the
  app's default limit of 10 top-ups an hour);
* the durable proxy (bench/site/views.py: the cheapest proxy plus the record before the landing
  call and the outcome after, the claim's and the record's round trips to the database without
  their rules);
* the cheapest Django proxy for it (bench/site/views.py: log-in, CSRF, forward to the landing);
* the balance poll, ``GET /ui/api/credits``, the balance in the cache;
* the lean view, the poll's floor (bench/site/views.py: the session's log-in check and one
  cache read, the balance's key);
* the chat page, ``GET /ui/``, logged in (a user without conversations).

The figure is the worker's utime + stime (all its threads: uvicorn's event loop and Django's
thread pool, or gthread's threads) from ``/proc/<pid>/stat`` just before and just after each
turn's counted requests, summed over the turns and divided by their number. The floors come
in the server's own kind of view: async under ASGI, sync under WSGI (an async view there would
start an event loop for every request).

Each server has users of its own for the top-up and others for the durable proxy (both write
attempts, and the top-up's claim reads the user's attempts of the last day), so the two servers
and the two writers start alike; the reads go to every user in turn.

Two servers, one after the other, each gunicorn with ONE worker process and max-requests off
(a worker replaced mid-run would reset its count; the bench fails if it is):

(a) ASGI as ``make serve`` runs it: reef_site/gunicorn.conf.py's uvicorn worker,
    ``reef_site.asgi:application``, WEB_CONCURRENCY=1;
(b) WSGI: the same configuration but ``--worker-class gthread --threads 4``,
    ``reef_site.wsgi:application``.

DEBUG off, the access log on (as in production), DJANGO_SETTINGS_MODULE=bench.site.cpu_settings
(bench/site/settings.py with the balance cached for an hour, so no measured request calls the
landing for it). Everything on loopback and torn down at the end: a throwaway PostgreSQL
database (psycopg's pool, as in production), an empty Redis database (cache and cached_db
sessions), the sandbox landing (``manage.py sandbox_landing``, a process of its own). No
``db_worker``: nothing measured waits on settlement, and the worker's CPU is what is counted.

    .venv/bin/python bench/cpu.py [--n 300 --warmup 50 --rounds 3 --servers asgi wsgi]

Prints a table (endpoint x server, CPU ms per request) and the ratios with their targets,
MISSED where one is missed; top-up / durable proxy and durable proxy / cheapest proxy have no
target: they say how much of the top-up's cost over the cheapest proxy is the durable record
and how much the rest of the app. Exits 0 even then (it is a measurement); 1 only when the bench
itself could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.serve import (  # noqa: E402
    PER_USER_HOUR,
    Child,
    Login,
    Make,
    Run,
    Users,
    add_service_arguments,
    answers,
    cpu_model,
    empty_redis_db,
    free_port,
    latency,
    loadavg,
    make_users,
    run_async,
    set_up_django,
    site_environment,
    site_get,
    site_topup,
    tear_down,
    wait_until,
)

CLOCK_TICK = os.sysconf("SC_CLK_TCK")  # /proc/<pid>/stat counts CPU time in these (usually 100 a second)
SETTLE = 0.2  # seconds before each reading, so the last request's tail (its access log line) is in it
REWARM = 5  # warm-up requests before each later round's count (a new connection, a refreshed cache)
IDLE_SECONDS = 5.0  # the idle worker's own CPU (timers, heartbeats) is read over this long, for scale


# --- the worker process ------------------------------------------------------------------------------


def stat_fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat``'s fields from the third (state) on: the second, the command name in
    parentheses, may hold spaces."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """The process's utime + stime (fields 14 and 15, every thread's, the finished ones too)."""
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):  # gone meanwhile
            if int(stat_fields(int(entry.name))[1]) == pid:
                found.append(int(entry.name))
    return found


# --- servers and endpoints ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    key: str
    title: str
    args: list[str]  # gunicorn's, after the configuration file
    floor_suffix: str  # the floors' routes: "" the async views, "-sync" the sync ones


SERVERS = [
    Server("asgi", "(a) ASGI", ["--max-requests", "0", "reef_site.asgi:application"], ""),
    Server(
        "wsgi",
        "(b) WSGI",
        ["--worker-class", "gthread", "--threads", "4", "--max-requests", "0", "reef_site.wsgi:application"],
        "-sync",
    ),
]
SERVER_TEXT = {
    "asgi": "gunicorn, reef_site/gunicorn.conf.py, 1 uvicorn worker, reef_site.asgi",
    "wsgi": "gunicorn, reef_site/gunicorn.conf.py, 1 gthread worker x 4 threads, reef_site.wsgi",
}


@dataclass(frozen=True)
class Endpoint:
    key: str
    name: str
    path: Callable[[Server], str]
    method: str = "GET"  # POST: a top-up's body, Idempotency-Key and CSRF token
    writer: bool = False  # writes attempts: its own users on each server, each at most PER_USER_HOUR times


ENDPOINTS = [
    Endpoint(
        "topup", "top-up          POST /ui/api/topup-credits", lambda s: "/ui/api/topup-credits", "POST", writer=True
    ),
    Endpoint(
        "durable",
        "durable proxy   POST /bench/topup-durable*",
        lambda s: f"/bench/topup-durable{s.floor_suffix}",
        "POST",
        writer=True,
    ),
    Endpoint(
        "proxy", "cheapest proxy  POST /bench/topup-credits*", lambda s: f"/bench/topup-credits{s.floor_suffix}", "POST"
    ),
    Endpoint("poll", "balance poll    GET /ui/api/credits (cached)", lambda s: "/ui/api/credits"),
    Endpoint("lean", "lean view       GET /bench/lean*", lambda s: f"/bench/lean{s.floor_suffix}"),
    Endpoint("page", "chat page       GET /ui/ (logged in)", lambda s: "/ui/"),
]


@dataclass(frozen=True)
class Ratio:
    name: str
    over: str
    under: str
    limit: float | None  # None: no target, printed to explain another


RATIOS = [
    Ratio("top-up / cheapest proxy", "topup", "proxy", 1.4),
    Ratio("  top-up / durable proxy (the app's rules)", "topup", "durable", None),
    Ratio("  durable proxy / cheapest proxy (durability)", "durable", "proxy", None),
    Ratio("balance poll / lean view", "poll", "lean", 1.3),
]


@dataclass
class Figure:
    """One endpoint on one server: the worker's CPU seconds over its counted requests (summed
    over the rounds), and those requests."""

    cpu_seconds: float = 0.0
    run: Run = field(default_factory=Run)

    @property
    def cpu_ms(self) -> float:
        """CPU ms per counted request."""
        return self.cpu_seconds * 1000 / len(self.run.latencies) if self.run.latencies else math.nan

    @property
    def failed(self) -> int:
        return sum(self.run.errors.values())


@dataclass
class Measured:
    """One server's figures."""

    pid: int
    figures: dict[str, Figure]
    idle_ms_per_s: float


def start_server(server: Server, env: dict[str, str], logs: Path, probe: Login) -> tuple[Child, str, int]:
    """The server up, one worker answering: its process, its URL and the worker's pid."""
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    child = Child(
        f"gunicorn {server.title}",
        [str(gunicorn), "--config", "reef_site/gunicorn.conf.py", *server.args],
        {**env, "PORT": str(port)},
        logs / f"gunicorn-{server.key}.log",
    )
    wait_until(lambda: answers(f"{site}/healthz"), 60, f"{server.title}'s worker", child)
    workers = children(child.popen.pid)
    if len(workers) != 1:
        raise RuntimeError(f"{server.title}: the gunicorn master has {len(workers)} children, not 1: {workers}")
    page = httpx.get(f"{site}/ui/", headers={"Cookie": probe.cookie}, timeout=10)
    if page.status_code != 200:  # the sessions are where the server reads them
        raise RuntimeError(f"{server.title}: GET /ui/ as a logged-in user answered {page.status_code}, not 200")
    return child, site, workers[0]


def measure(figure: Figure, make: Make, pid: int, n: int, warmup: int) -> None:
    """``warmup`` requests, then ``n`` counted ones, one at a time, added to ``figure``: the
    worker's CPU read just before and just after the counted ones."""
    run_async(latency(make, 0, warmup))
    time.sleep(SETTLE)
    before = cpu_seconds(pid)
    run = run_async(latency(make, n, 0))
    time.sleep(SETTLE)
    after = cpu_seconds(pid)
    if run.exhausted or len(run.latencies) != n:
        raise RuntimeError("the users ran out of top-ups (their hourly limit): the figure would be short")
    figure.cpu_seconds += after - before
    figure.run.merge(run)


def chunks(n: int, rounds: int) -> list[int]:
    """``n`` counted requests in ``rounds`` turns, as even as they go."""
    return [n // rounds + (1 if turn < n % rounds else 0) for turn in range(rounds)]


def idle_cpu(pid: int) -> float:
    """The idle worker's CPU ms per second."""
    before = cpu_seconds(pid)
    time.sleep(IDLE_SECONDS)
    return (cpu_seconds(pid) - before) * 1000 / IDLE_SECONDS


def credits_views_under_wsgi(env: dict[str, str]) -> str:
    """Which of the credits API's views the WSGI server serves, from its settings as
    reef_site/wsgi.py leaves them (CREDITS["ASYNC_VIEWS"], when the app has that setting)."""
    code = (
        "import reef_site.wsgi\n"
        "from credits.conf import get_settings\n"
        "print(getattr(get_settings(), 'ASYNC_VIEWS', None))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    value = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    if value == "False":
        return 'sync views (CREDITS["ASYNC_VIEWS"] is False under reef_site/wsgi.py)'
    if value == "True":
        return 'async views (CREDITS["ASYNC_VIEWS"] is True under reef_site/wsgi.py), run by async_to_sync'
    return 'async views, run by async_to_sync (the app has no CREDITS["ASYNC_VIEWS"])'


# --- the report ------------------------------------------------------------------------------------


def report(results: dict[str, Measured], header: list[str]) -> str:
    servers = [s for s in SERVERS if s.key in results]
    lines = [*header, ""]
    titles = "".join(f"{s.title:>11}" for s in servers)
    lines.append(f"{'CPU ms per request':<48}{titles}   | wall p50 ms{titles}")
    for endpoint in ENDPOINTS:
        figures = [results[s.key].figures[endpoint.key] for s in servers]
        cpu = "".join(f"{f.cpu_ms:11.2f}" for f in figures)
        wall = "".join(f"{f.run.p(50):11.2f}" for f in figures)
        failed = [f"{s.title}: {f.run.error_text()}" for s, f in zip(servers, figures, strict=True) if f.failed]
        lines.append(
            f"  {endpoint.name:<46}{cpu}   |{'':11}{wall}" + (f"   failed {'; '.join(failed)}" if failed else "")
        )
    idle = "".join(f"{results[s.key].idle_ms_per_s:11.2f}" for s in servers)
    lines.append(f"  {'the idle worker, CPU ms per second':<46}{idle}   (for scale; not subtracted)")
    lines.append("  (* the floors: the async views under ASGI, their -sync twins under WSGI)")
    lines.append("")
    lines.append(f"{'Ratios of CPU per request':<48}" + "".join(f"{s.title:>18}" for s in servers) + "   target")
    met = total = 0
    for ratio in RATIOS:
        cells = []
        for server in servers:
            over, under = results[server.key].figures[ratio.over], results[server.key].figures[ratio.under]
            value = over.cpu_ms / under.cpu_ms if under.cpu_ms > 0 else math.nan
            failures = over.failed + under.failed  # a ratio of figures with failed requests does not pass
            if ratio.limit is None:
                cells.append(f"{value:.2f}" + (f" ({failures} failed)" if failures else ""))
                continue
            ok = value <= ratio.limit and not failures  # NaN is never <=
            met, total = met + ok, total + 1
            mark = "" if ok else (f" MISSED ({failures} failed)" if failures else " MISSED")
            cells.append(f"{value:.2f}{mark}")
        target = "(no target)" if ratio.limit is None else f"<= {ratio.limit:.2f}"
        lines.append(f"  {ratio.name:<46}" + "".join(f"{c:>18}" for c in cells) + f"   {target}")
    lines.append("")
    lines.append(f"{met} of {total} targets met" + (f", {total - met} MISSED" if met < total else ""))
    return "\n".join(lines)


# --- the run ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="counted requests per endpoint and server")
    parser.add_argument("--warmup", type=int, default=50, help="warm-up requests before each count")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="turns the counted requests are taken in, the endpoints in turn (so a machine whose speed drifts "
        "shifts every figure alike)",
    )
    parser.add_argument(
        "--servers", choices=[s.key for s in SERVERS], nargs="+", default=[s.key for s in SERVERS], help="which to run"
    )
    add_service_arguments(parser)
    args = parser.parse_args()
    if args.rounds < 1 or args.n < args.rounds or args.warmup < 0:
        parser.error("--rounds must be at least 1, --n at least --rounds and --warmup at least 0")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup below runs
    servers = [s for s in SERVERS if s.key in args.servers]
    # Each writer has users of its own on each server, each used at most PER_USER_HOUR times
    # (under the hourly limit); the reads go to every user.
    writes = args.warmup + (args.rounds - 1) * REWARM + args.n  # per writer and server
    per_writer = math.ceil(writes / PER_USER_HOUR) + 1
    writers = [e.key for e in ENDPOINTS if e.writer]
    users = max(20, len(servers) * len(writers) * per_writer)

    began = time.monotonic()
    load_at_start = loadavg()
    database = f"reef_bench_cpu_{os.getpid()}"
    redis_db = empty_redis_db("127.0.0.1", 6379, args.redis_db)
    token = secrets.token_urlsafe(32)
    landing_port = free_port()
    landing = f"http://127.0.0.1:{landing_port}"
    logs = Path(tempfile.mkdtemp(prefix="reef-cpu-bench-"))
    env = site_environment(
        "bench.site.cpu_settings", args.postgres, database, redis_db, landing, token, WEB_CONCURRENCY="1"
    )
    children_up: list[Child] = []
    django_ready = False
    failed = True
    try:
        pg_version = set_up_django(args.postgres, database, env)
        django_ready = True  # from here on, tear_down closes Django's connections too
        logins = make_users(users)
        readers = Users(logins)
        own = {  # (server, writer): its users
            (server.key, writer): Users(logins[i * per_writer : (i + 1) * per_writer], PER_USER_HOUR)
            for i, (server, writer) in enumerate(itertools.product(servers, writers))
        }
        wsgi_views = credits_views_under_wsgi(env) if any(s.key == "wsgi" for s in servers) else ""

        sandbox = Child(
            "sandbox landing",
            [sys.executable, "manage.py", "sandbox_landing", "--port", str(landing_port), "--credits", "1000000"],
            {**env, "VERS_SANDBOX": "on"},  # its command is installed only with the sandbox on
            logs / "sandbox.log",
        )
        children_up.append(sandbox)
        wait_until(lambda: answers(f"{landing}/sandbox/state"), 30, "the sandbox landing", sandbox)
        print(f"{users} users logged in, the landing up ({time.monotonic() - began:.0f} s); measuring", flush=True)

        results: dict[str, Measured] = {}
        for server in servers:
            child, site, pid = start_server(server, env, logs, logins[0])
            children_up.append(child)
            figures = {endpoint.key: Figure() for endpoint in ENDPOINTS}
            for turn, count in enumerate(chunks(args.n, args.rounds)):
                for endpoint in ENDPOINTS:
                    url = f"{site}{endpoint.path(server)}"
                    if endpoint.method == "POST":  # the proxy's landing has no limits: any user, any number of times
                        make = site_topup(url, own[server.key, endpoint.key] if endpoint.writer else readers)
                    else:
                        make = site_get(url, readers)
                    figure = figures[endpoint.key]
                    measure(figure, make, pid, count, args.warmup if turn == 0 else REWARM)
                    print(
                        f"  {server.title} {turn + 1}/{args.rounds} {endpoint.key:<6} {figure.cpu_ms:7.2f} ms CPU/request"
                        f" so far  p50 {figure.run.p(50):6.2f} ms  errors {figure.run.error_text()}"
                        f"  ({time.monotonic() - began:.0f} s)",
                        flush=True,
                    )
            idle = idle_cpu(pid)
            if not child.alive() or children(child.popen.pid) != [pid]:
                raise RuntimeError(
                    f"{server.title}: the worker {pid} was replaced during the run: the figures are void"
                )
            results[server.key] = Measured(pid, figures, idle)
            child.stop()
            children_up.remove(child)

        header = [
            "bench/cpu.py: CPU time per request of one server process (the gunicorn worker's utime+stime from "
            f"/proc/<pid>/stat, clock tick {1000 / CLOCK_TICK:.0f} ms),",
            f"  {args.n} requests per endpoint after {args.warmup} warm-up, one at a time over a kept-alive "
            f"connection, in {args.rounds} rounds (the endpoints in turn; {REWARM} warm-up again in each later one),",
            f"  DEBUG off, PostgreSQL {pg_version} (psycopg pool), Redis db {redis_db}, loopback, {users} users ({per_writer} "
            "of their own for each writer on each server)",
            *(f"  {s.title}: {SERVER_TEXT[s.key]}, max-requests off, worker pid {results[s.key].pid}" for s in servers),
            *([f"  the credits API under WSGI: {wsgi_views}"] if wsgi_views else []),
            f"machine: nproc {len(os.sched_getaffinity(0))}, {cpu_model()}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}; load average at start {load_at_start}, at end {loadavg()}",
        ]
        print()
        print(report(results, header))
        print(f"\n{time.monotonic() - began:.0f} s in all")
        failed = False
        return 0
    finally:
        tear_down(
            children_up, django_ready, args.postgres, database, redis_db, logs, keep_logs=failed or args.keep_logs
        )


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
