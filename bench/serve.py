"""The production server under load: what the project's top-up adds over the cheapest Django
proxy and over the landing itself, side by side, in one run on this machine.

Everything on loopback, torn down at the end (processes, database, Redis database):

* a throwaway PostgreSQL database (migrated) and an empty Redis database (the cache, and the
  sessions: cached_db), with ``--users`` users logged in (sessions and CSRF cookies);
* the sandbox landing (``manage.py sandbox_landing``), a process of its own;
* the site as ``make serve`` runs it: gunicorn with reef_site/gunicorn.conf.py, 4 uvicorn
  workers (WEB_CONCURRENCY=4), DEBUG off, ``manage.py db_worker`` beside it; but with
  DJANGO_SETTINGS_MODULE=bench.site.settings, which adds one route, the cheapest Django
  proxy (bench/site/views.py: log-in, CSRF, forward to the landing, nothing else);
* an async httpx load generator (this process).

    .venv/bin/python bench/serve.py [--users 800 --n 300 --seconds 9 --rounds 3]

Prints the figures, their ratios and the targets, MISSED where one is missed. Exits 0 even
then (it is a measurement); 1 only when the bench itself could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402

T = TypeVar("T")

WORKERS = 4
WAITING = 40  # top-ups left waiting on a slow landing while pages and balance polls are timed
CLIENTS = 16
PER_USER_HOUR = 9  # top-ups per user per run phase: under the default limit of 10 an hour
AMOUNT = b'{"amountCents": 1000}'


# --- the machine -----------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- processes, PostgreSQL, Redis ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Child:
    """A child process in its own process group, its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._out = log.open("ab")
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to the group (gunicorn stops gracefully), SIGKILL to whatever is left."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # a worker outliving its master
            os.killpg(self.popen.pid, signal.SIGKILL)
        self._out.close()


def wait_until(condition: Callable[[], Any], seconds: float, what: str, child: Child | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        if child is not None and not child.alive():
            raise RuntimeError(f"{child.name} exited while waiting for {what}:\n{child.output()[-3000:]}")
        time.sleep(0.1)
    tail = f":\n{child.output()[-3000:]}" if child is not None else ""
    raise RuntimeError(f"timed out waiting for {what}{tail}")


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def server_url(url: str) -> str:
    """``postgres://user@host:port`` from a URL that may name a database (make's POSTGRES_URL)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def pg_admin(base: str) -> psycopg.Connection[Any]:
    return psycopg.connect(f"{base}/postgres", autocommit=True)


def create_database(base: str, name: str) -> None:
    with pg_admin(base) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(base: str, name: str) -> None:
    with pg_admin(base) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_redis_db(host: str, port: int, wanted: int | None) -> int:
    """The Redis database to use: ``wanted``, or the highest-numbered empty one (not 0 or 1)."""
    for number in [wanted] if wanted is not None else range(15, 1, -1):
        if redis.Redis(host=host, port=port, db=number).dbsize() == 0:
            return number
        if wanted is not None:
            raise RuntimeError(f"Redis database {number} is not empty; choose another with --redis-db")
    raise RuntimeError("no empty Redis database among 2..15; choose one with --redis-db")


# --- users and their sessions (in this process, against the bench database and cache) ------------


@dataclass(frozen=True)
class Login:
    cookie: str  # the Cookie header: session and CSRF cookies
    csrf: str


def make_users(count: int) -> list[Login]:
    """``count`` users, each logged in with Django's test client (the session is saved to the
    database and to the Redis cache, where the server reads it: cached_db), with a CSRF cookie."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    user_model = get_user_model()
    users = [user_model(username=f"bench{i:05d}") for i in range(count)]
    for user in users:
        user.set_unusable_password()
    user_model.objects.bulk_create(users)
    logins = []
    for user in user_model.objects.order_by("pk"):
        client = Client()
        client.force_login(user)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        csrf = secrets.token_hex(16)  # a 32-character CSRF secret, as the csrftoken cookie holds
        logins.append(Login(f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={csrf}", csrf))
    return logins


class Users:
    """Hands out users in turn; for top-ups, each at most ``per_user`` times (the hourly limit)."""

    def __init__(self, logins: list[Login], per_user: int | None = None) -> None:
        self.logins = logins
        self.per_user = per_user
        self.used = [0] * len(logins)
        self.next = 0

    def reset(self) -> None:
        self.used = [0] * len(self.logins)

    def take(self) -> Login | None:
        for _ in range(len(self.logins)):
            i = self.next
            self.next = (self.next + 1) % len(self.logins)
            if self.per_user is None or self.used[i] < self.per_user:
                self.used[i] += 1
                return self.logins[i]
        return None


# --- the load generator ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None


Make = Callable[[], Req | None]  # the next request, or None when no user has any top-up left


def landing_topup(landing: str, token: str) -> Make:
    def make() -> Req:
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": uuid.uuid4().hex,
        }
        return Req("POST", f"{landing}/api/reef/topup-credits", headers, AMOUNT)

    return make


def landing_balance(landing: str, token: str) -> Make:
    return lambda: Req("GET", f"{landing}/api/reef/credits", {"Authorization": f"Bearer {token}"})


def site_topup(url: str, users: Users) -> Make:
    def make() -> Req | None:
        login = users.take()
        if login is None:
            return None
        headers = {
            "Cookie": login.cookie,
            "X-CSRFToken": login.csrf,
            "Content-Type": "application/json",
            "Idempotency-Key": uuid.uuid4().hex,
        }
        return Req("POST", url, headers, AMOUNT)

    return make


def site_get(url: str, users: Users) -> Make:
    def make() -> Req | None:
        login = users.take()
        return None if login is None else Req("GET", url, {"Cookie": login.cookie})

    return make


def http_client(keep_alive: bool = True) -> httpx.AsyncClient:
    """A client with one connection kept alive (a browser tab), or a new connection each request."""
    limits = httpx.Limits() if keep_alive else httpx.Limits(max_keepalive_connections=0)
    return httpx.AsyncClient(timeout=httpx.Timeout(60.0), limits=limits, trust_env=False, follow_redirects=False)


async def send(client: httpx.AsyncClient, req: Req) -> tuple[float, str | None]:
    """The request's duration in seconds, and None if it was answered 200 or what went wrong."""
    started = time.perf_counter()
    try:
        response = await client.request(req.method, req.url, headers=req.headers, content=req.body)
    except httpx.HTTPError as exc:
        return time.perf_counter() - started, type(exc).__name__
    elapsed = time.perf_counter() - started
    if response.status_code == 200:
        return elapsed, None
    code = ""
    with contextlib.suppress(ValueError, AttributeError):
        code = " " + str(response.json().get("code"))
    return elapsed, f"{response.status_code}{code}"


@dataclass
class Run:
    """One measurement: latencies in ms of the counted requests, and what failed."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    exhausted: bool = False  # the users ran out of top-ups before the time was up

    def merge(self, other: Run) -> None:
        self.latencies += other.latencies
        self.errors.update(other.errors)
        self.seconds += other.seconds
        self.exhausted = self.exhausted or other.exhausted

    def add(self, seconds: float, error: str | None) -> None:
        self.latencies.append(seconds * 1000)
        if error is not None:
            self.errors[error] += 1

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    def error_text(self) -> str:
        return ", ".join(f"{n}x {what}" for what, n in self.errors.most_common()) or "0"


async def latency(make: Make, n: int, warmup: int) -> Run:
    """One client, one request at a time: ``warmup`` requests, then ``n`` timed ones."""
    run = Run()
    async with http_client() as client:
        for counted in [False] * warmup + [True] * n:
            req = make()
            if req is None:
                run.exhausted = True
                break
            seconds, error = await send(client, req)
            if counted:
                run.add(seconds, error)
    run.seconds = sum(run.latencies) / 1000
    return run


async def throughput(make: Make, clients: int, seconds: float, warmup: float) -> Run:
    """``clients`` clients, each sending its next request as soon as its last is answered;
    the requests answered in the ``seconds`` after ``warmup`` seconds are counted."""
    run = Run()
    start = time.perf_counter() + warmup
    end = start + seconds
    last = start

    async def client_loop() -> None:
        nonlocal last
        async with http_client() as client:
            while time.perf_counter() < end:
                req = make()
                if req is None:
                    run.exhausted = True
                    return
                took, error = await send(client, req)
                done = time.perf_counter()
                if start <= done <= end:
                    run.add(took, error)
                    last = max(last, done)

    await asyncio.gather(*(client_loop() for _ in range(clients)))
    run.seconds = (last - start) if run.exhausted else seconds
    return run


async def paced(make: Make, clients: int, period: float, seconds: float) -> Run:
    """``clients`` clients, each sending one request every ``period`` seconds (the next at once
    when one took longer) for ``seconds``: a steady load well under saturation. Each request
    on a new connection, as from many visitors: the kernel hands each to any worker, so every
    worker is sampled (a kept-alive connection stays with the worker that accepted it)."""
    run = Run()
    end = time.perf_counter() + seconds

    async def client_loop(offset: float) -> None:
        await asyncio.sleep(offset)
        async with http_client(keep_alive=False) as client:
            while (now := time.perf_counter()) < end:
                req = make()
                if req is None:
                    return
                run.add(*(await send(client, req)))
                await asyncio.sleep(max(0.0, period - (time.perf_counter() - now)))

    await asyncio.gather(*(client_loop(i * period / clients) for i in range(clients)))
    run.seconds = seconds
    return run


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)
    return uvloop.run(coro)


# --- the figures --------------------------------------------------------------------------------------


@dataclass
class Figures:
    latency: dict[str, Run] = field(default_factory=dict)
    throughput: dict[str, Run] = field(default_factory=dict)
    balance: dict[str, Run] = field(default_factory=dict)
    calm: dict[str, Run] = field(default_factory=dict)
    waiting: dict[str, Run] = field(default_factory=dict)
    waiting_reached: tuple[int, int] = (0, 0)  # top-ups at the landing when timing began, and when it ended
    waiting_answers: Counter[str] = field(default_factory=Counter)
    waiting_seconds: list[float] = field(default_factory=list)
    claims: dict[str, Run] = field(default_factory=dict)
    claim_rows: dict[str, int] = field(default_factory=dict)
    fill_seconds: dict[str, float] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)  # gunicorn worker restarts per phase


class ServerLog:
    def __init__(self, child: Child) -> None:
        self.child = child

    def boots(self) -> int:
        return len(re.findall(r"Booting worker with pid", self.child.output()))

    def started(self) -> int:
        return len(re.findall(r"Started server process", self.child.output()))


def sandbox_call(landing: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.request(method, f"{landing}{path}", json=body, timeout=10)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


async def waiting_phase(
    figures: Figures, site: str, landing: str, readers: Users, waiters: list[Login], calm_seconds: float
) -> None:
    """Pages and balance polls, first with nothing waiting, then while WAITING top-ups (each
    its own user) wait on a landing that answers top-ups 60 s late."""
    page, poll = site_get(f"{site}/ui/", readers), site_get(f"{site}/ui/api/credits", readers)
    await asyncio.gather(paced(page, 4, 0.05, 2.0), paced(poll, 4, 0.05, 2.0))  # warm-up, on every worker
    figures.calm["page"], figures.calm["poll"] = await asyncio.gather(
        paced(page, 4, 0.1, calm_seconds), paced(poll, 4, 0.1, calm_seconds)
    )
    before = (await asyncio.to_thread(sandbox_call, landing, "GET", "/sandbox/state"))["topupRequests"]
    await asyncio.to_thread(sandbox_call, landing, "POST", "/sandbox/configure", {"delay": 60})

    async def one(login: Login) -> tuple[float, str | None]:
        req = site_topup(f"{site}/ui/api/topup-credits", Users([login]))()
        assert req is not None
        async with http_client() as client:
            return await send(client, req)

    topups = [asyncio.create_task(one(login)) for login in waiters]
    try:
        # Until every one is at the landing (or answered already, or 5 s have passed): a top-up
        # that cannot get its turn in the site waits too, and is counted below.
        deadline = time.monotonic() + 5
        reached = 0
        while time.monotonic() < deadline:
            state = await asyncio.to_thread(sandbox_call, landing, "GET", "/sandbox/state")
            reached = state["topupRequests"] - before
            if reached + sum(t.done() for t in topups) >= len(waiters):
                break
            await asyncio.sleep(0.1)
        figures.waiting["page"], figures.waiting["poll"] = await asyncio.gather(
            paced(page, 4, 0.1, 10.0), paced(poll, 4, 0.1, 10.0)
        )
        state = await asyncio.to_thread(sandbox_call, landing, "GET", "/sandbox/state")
        figures.waiting_reached = (reached, state["topupRequests"] - before)
    finally:
        await asyncio.to_thread(sandbox_call, landing, "POST", "/sandbox/configure", {"delay": 0})
        for seconds, error in await asyncio.gather(*topups):
            figures.waiting_answers[error or "200"] += 1
            figures.waiting_seconds.append(seconds)


FILL_SQL = """
WITH users AS (SELECT array_agg(id ORDER BY id) AS ids FROM auth_user),
rows AS (
    SELECT g,
           CASE WHEN g %% 100 < 90 THEN 'succeeded' WHEN g %% 100 < 96 THEN 'declined'
                WHEN g %% 100 < 99 THEN 'error' ELSE 'refused' END AS status,
           (ARRAY[500, 1000, 2500, 5000])[1 + g %% 4] AS amount,
           now() - interval '25 hours' - random() * interval '29 days' AS at
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
)
INSERT INTO credits_topupattempt (
    id, user_id, amount_cents, source, idempotency_key, key_live, upstream_key, status, landing_status,
    error_code, error_message, response_status, response_body, duration_ms, created_at, finished_at,
    settle_at, first_status, settled_by, settled_at, settle_tries, needs_operator, outcome_shown
)
SELECT gen_random_uuid(), users.ids[1 + rows.g %% cardinality(users.ids)], rows.amount,
       (ARRAY['header', 'inline', 'form', 'api'])[1 + (rows.g / 7) %% 4],
       'fill-' || rows.g, rows.status IN ('succeeded', 'declined'), 'reef-fill-' || rows.g, rows.status,
       CASE rows.status WHEN 'succeeded' THEN 200 WHEN 'declined' THEN 402 END,
       CASE rows.status WHEN 'succeeded' THEN '' WHEN 'declined' THEN 'card_declined'
                        WHEN 'error' THEN 'upstream_unavailable' ELSE 'rate_limited' END,
       CASE rows.status WHEN 'succeeded' THEN '' ELSE 'filled by bench/serve.py' END,
       CASE rows.status WHEN 'succeeded' THEN 200 WHEN 'declined' THEN 402 WHEN 'error' THEN 502 ELSE 429 END,
       CASE rows.status WHEN 'succeeded' THEN jsonb_build_object('ok', true, 'amountCents', rows.amount)
            ELSE jsonb_build_object('error', 'filled by bench/serve.py', 'code', 'filled') END,
       CASE WHEN rows.status = 'refused' THEN NULL ELSE 150 + rows.g %% 300 END,
       rows.at, rows.at + interval '1 second', NULL, rows.status, '', NULL, 0, false, true
FROM rows, users
"""


def fill(first: int, last: int) -> float:
    """Insert attempts ``first``..``last`` (settled, spread over every user and over the 29 days
    before the last 25 hours, so the limits see only this run's own top-ups), then VACUUM
    ANALYZE (so autovacuum does not wake up during the next measurement). Seconds taken."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
        cursor.execute(FILL_SQL, {"first": first, "last": last})
        cursor.execute("SET synchronous_commit TO DEFAULT")
        cursor.execute("VACUUM ANALYZE credits_topupattempt")
    return time.perf_counter() - started


def attempt_rows() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM credits_topupattempt")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def truncate_attempts() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE credits_topupattempt")


# --- the report --------------------------------------------------------------------------------------


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


@dataclass(frozen=True)
class Target:
    what: str
    value: str
    goal: str
    ok: bool


def targets(f: Figures) -> list[Target]:
    lat, thr, bal, busy, claims = f.latency, f.throughput, f.balance, f.waiting, f.claims

    def target(what: str, value: float, text: str, goal: str, ok: bool, *runs: Run) -> Target:
        failed = sum(sum(run.errors.values()) for run in runs)
        if failed:  # a figure with failed requests in it does not pass, whatever its value
            text += f" ({failed} failed)"
        return Target(what, text, goal, ok and not failed and value == value)  # value == value: not NaN

    proxy_gap = lat["project"].p(50) - lat["proxy"].p(50)
    landing_gap = lat["project"].p(50) - lat["landing"].p(50)
    thr_ratio = ratio(thr["project"].rate, thr["proxy"].rate)
    bal_ratio = ratio(bal["project"].rate, bal["landing"].rate)
    claim_ratio = ratio(claims["1e6"].p(50), claims["1e3"].p(50))
    page_p99, poll_p99 = busy["page"].p(99), busy["poll"].p(99)
    return [
        target(
            "project - proxy, top-up p50, 1 client",
            proxy_gap,
            f"{proxy_gap:+.2f} ms",
            "<= +1.00 ms",
            proxy_gap <= 1.0,
            lat["project"],
            lat["proxy"],
        ),
        target(
            "project - landing, top-up p50, 1 client",
            landing_gap,
            f"{landing_gap:+.2f} ms",
            "<= +3.50 ms",
            landing_gap <= 3.5,
            lat["project"],
            lat["landing"],
        ),
        target(
            f"project / proxy, top-ups/s, {CLIENTS} clients",
            thr_ratio,
            f"{thr_ratio:.2f}x",
            ">= 0.80x",
            thr_ratio >= 0.8,
            thr["project"],
            thr["proxy"],
        ),
        target(
            f"balance poll / landing's balance, req/s, {CLIENTS} clients",
            bal_ratio,
            f"{bal_ratio:.2f}x",
            ">= 0.50x",
            bal_ratio >= 0.5,
            bal["project"],
            bal["landing"],
        ),
        target(
            f"GET /ui/ p99 while {WAITING} top-ups wait",
            page_p99,
            f"{page_p99:.1f} ms",
            "< 250 ms",
            page_p99 < 250,
            busy["page"],
        ),
        target(
            f"balance poll p99 while {WAITING} top-ups wait",
            poll_p99,
            f"{poll_p99:.1f} ms",
            "< 250 ms",
            poll_p99 < 250,
            busy["poll"],
        ),
        target(
            "claim: top-up p50 at 10^6 rows / at 10^3 rows",
            claim_ratio,
            f"{claim_ratio:.2f}x",
            "0.80x - 1.20x",
            0.8 <= claim_ratio <= 1.2,
            claims["1e3"],
            claims["1e6"],
        ),
    ]


def report(f: Figures, machine: list[str], args: argparse.Namespace, total: float) -> str:
    lat, thr, bal = f.latency, f.throughput, f.balance
    turns = f"{args.rounds} turns of {args.seconds / args.rounds:.0f} s, in turn"
    names = {
        "landing": "(a) landing directly",
        "proxy": "(b) cheapest Django proxy",
        "project": "(c) project /ui/api/topup-credits",
    }
    lines = [*machine, ""]

    def head(title: str, columns: str) -> None:
        lines.append(f"{title:<50}{columns}")

    head(f"Top-up, 1 client ({args.n} after {args.warmup} warm-up)", " p50 ms  p95 ms  p50-(a)  p50-(b)  errors")
    for key, name in names.items():
        run = lat[key]
        lines.append(
            f"  {name:<48}{run.p(50):7.2f} {run.p(95):7.2f} {run.p(50) - lat['landing'].p(50):+8.2f}"
            f" {run.p(50) - lat['proxy'].p(50):+8.2f}  {run.error_text()}"
        )
    lines.append("")
    head(f"Top-up, {CLIENTS} clients ({turns})", "  req/s  /(a)   /(b)   p50 ms  p99 ms  restarts  errors")
    for key, name in names.items():
        run = thr[key]
        lines.append(
            f"  {name:<48}{run.rate:7.0f} {ratio(run.rate, thr['landing'].rate):5.2f} {ratio(run.rate, thr['proxy'].rate):6.2f}"
            f" {run.p(50):8.1f} {run.p(99):7.1f} {f.restarts.get('throughput ' + key, 0):9d}  {run.error_text()}"
            + ("  (users ran out of top-ups early)" if run.exhausted else "")
        )
    lines.append("")
    head(f"Balance, {CLIENTS} clients ({turns})", "  req/s  /landing  p50 ms  p99 ms  restarts  errors")
    for key, name in (
        ("landing", "landing GET /api/reef/credits"),
        ("project", "project GET /ui/api/credits (cached)"),
    ):
        run = bal[key]
        lines.append(
            f"  {name:<48}{run.rate:7.0f} {ratio(run.rate, bal['landing'].rate):9.2f} {run.p(50):7.1f} {run.p(99):7.1f}"
            f" {f.restarts.get('balance ' + key, 0):9d}  {run.error_text()}"
        )
    lines.append("")
    head("Pages, polls (4 + 4 clients, 10/s each, new conn.)", f" nothing waiting     | while {WAITING} top-ups wait")
    head("", " p50 ms  p99 ms     | p50 ms   p99 ms  errors")
    for key, name in (("page", "GET /ui/ (logged in)"), ("poll", "GET /ui/api/credits")):
        calm, busy = f.calm[key], f.waiting[key]
        lines.append(
            f"  {name:<48}{calm.p(50):7.1f} {calm.p(99):7.1f}     |{busy.p(50):7.1f} {busy.p(99):8.1f}  {busy.error_text()}"
        )
    answered = ", ".join(f"{n}x {what}" for what, n in f.waiting_answers.most_common())
    took = f" in {min(f.waiting_seconds):.1f}-{max(f.waiting_seconds):.1f} s" if f.waiting_seconds else ""
    lines.append(
        f"  the {WAITING} top-ups: {f.waiting_reached[0]} at the landing when timing began, "
        f"{f.waiting_reached[1]} when it ended; answered {answered}{took}"
    )
    lines.append("")
    head("Claim: project top-up, 1 client", "   rows  fill s  p50 ms  p95 ms  errors")
    for key in ("1e3", "1e6"):
        run = f.claims[key]
        name = f"10^{key[-1]} rows in credits_topupattempt (~{f.claim_rows[key] / args.users:.0f}/user)"
        lines.append(
            f"  {name:<48}{f.claim_rows[key]:7d} {f.fill_seconds[key]:7.1f} {run.p(50):7.2f} {run.p(95):7.2f}"
            f"  {run.error_text()}"
        )
    lines.append("")
    lines.append("Targets")
    results = targets(f)
    for t in results:
        lines.append(f"  {t.what:<52}{t.value:>24}   target {t.goal:<14} {'pass' if t.ok else 'MISSED'}")
    missed = sum(not t.ok for t in results)
    lines.append("")
    lines.append(
        f"{len(results) - missed} of {len(results)} targets met"
        + (f", {missed} MISSED" if missed else "")
        + f"; gunicorn worker restarts (max_requests) in the run: {sum(f.restarts.values())}; {total:.0f} s in all"
    )
    return "\n".join(lines)


# --- the run ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=800, help="users logged in (top-ups are spread over them)")
    parser.add_argument("--n", type=int, default=300, help="timed requests per 1-client latency figure")
    parser.add_argument("--warmup", type=int, default=30, help="warm-up requests before each 1-client figure")
    parser.add_argument("--seconds", type=float, default=9.0, help="seconds timed per 16-client figure, in all")
    parser.add_argument("--rounds", type=int, default=3, help="turns the 16-client figures are taken in")
    parser.add_argument("--warmup-seconds", type=float, default=1.5, help="warm-up seconds before each turn")
    parser.add_argument("--claim-n", type=int, default=200, help="timed top-ups per claim figure")
    add_service_arguments(parser)
    args = parser.parse_args()
    if args.users < WAITING + 2 * CLIENTS:
        parser.error(f"--users must be at least {WAITING + 2 * CLIENTS}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup below runs

    began = time.monotonic()
    database = f"reef_bench_{os.getpid()}"
    redis_db = empty_redis_db("127.0.0.1", 6379, args.redis_db)
    token = secrets.token_urlsafe(32)
    site_port, landing_port = free_port(), free_port()
    site, landing = f"http://127.0.0.1:{site_port}", f"http://127.0.0.1:{landing_port}"
    logs = Path(tempfile.mkdtemp(prefix="reef-serve-bench-"))
    env = site_environment(
        "bench.site.settings",
        args.postgres,
        database,
        redis_db,
        landing,
        token,
        WEB_CONCURRENCY=str(WORKERS),
        PORT=str(site_port),
    )
    children: list[Child] = []
    django_ready = False
    failed = True
    try:
        pg_version = set_up_django(args.postgres, database, env)
        django_ready = True  # from here on, tear_down closes Django's connections too
        machine = [
            "bench/serve.py: the production server (gunicorn, reef_site/gunicorn.conf.py, "
            f"{WORKERS} uvicorn workers, DEBUG off, PostgreSQL {pg_version}, Redis db {redis_db}) on loopback",
            f"machine: nproc {len(os.sched_getaffinity(0))}, {cpu_model()}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}; load average at start {loadavg()}",
        ]
        setup_started = time.perf_counter()
        logins = make_users(args.users)
        waiters, others = logins[:WAITING], logins[WAITING:]
        print(f"{args.users} users logged in ({time.perf_counter() - setup_started:.1f} s)", flush=True)

        python = sys.executable
        gunicorn = Path(python).with_name("gunicorn")
        sandbox = Child(
            "sandbox landing",
            [python, "manage.py", "sandbox_landing", "--port", str(landing_port), "--credits", "1000000"],
            {**env, "VERS_SANDBOX": "on"},  # its command is installed only with the sandbox on
            logs / "sandbox.log",
        )
        children.append(sandbox)
        worker = Child("db_worker", [python, "manage.py", "db_worker", "--no-reload"], env, logs / "db_worker.log")
        children.append(worker)
        server = Child(
            "gunicorn",
            [str(gunicorn), "--config", "reef_site/gunicorn.conf.py", "reef_site.asgi:application"],
            env,
            logs / "gunicorn.log",
        )
        children.append(server)
        log = ServerLog(server)
        wait_until(lambda: answers(f"{landing}/sandbox/state"), 30, "the sandbox landing", sandbox)
        wait_until(lambda: log.started() >= WORKERS and answers(f"{site}/healthz"), 60, "the site's workers", server)
        for login in (others[0], others[-1]):  # the sessions are where the server reads them
            page = httpx.get(f"{site}/ui/", headers={"Cookie": login.cookie}, timeout=10)
            if page.status_code != 200:
                raise RuntimeError(f"GET /ui/ as a logged-in user answered {page.status_code}, not 200")
        print(f"site and landing up ({time.monotonic() - began:.0f} s); measuring", flush=True)

        figures = Figures()
        topupers = Users(others, PER_USER_HOUR)
        readers = Users(others)
        makes: dict[str, Make] = {
            "landing": landing_topup(landing, token),
            "proxy": site_topup(f"{site}/bench/topup-credits", readers),
            "project": site_topup(f"{site}/ui/api/topup-credits", topupers),
        }

        def check_alive(during: str) -> None:
            for child in children:
                if not child.alive():
                    noise = ("127.0.0.1:", " INFO credits ", " WARNING credits top-up ")  # access and top-up lines
                    lines = [line for line in child.output().splitlines()[-2000:] if not any(n in line for n in noise)]
                    tail = "\n".join(lines[-30:])
                    raise RuntimeError(
                        f"{child.name} exited during {during} (exit status {child.popen.returncode}); "
                        f"the figures after it would be void. Its log ends:\n{tail[-2500:]}"
                    )

        def phase(name: str, measure: Callable[[], Coroutine[Any, Any, Run]], restarts: str) -> Run:
            boots = log.boots()
            result = run_async(measure())
            check_alive(name)
            figures.restarts[restarts] = figures.restarts.get(restarts, 0) + log.boots() - boots
            print(
                f"  {name:<24} {len(result.latencies):6d} req  {result.rate:6.0f}/s  p50 {result.p(50):6.2f} ms"
                f"  p99 {result.p(99):7.2f} ms  errors {result.error_text()}  ({time.monotonic() - began:.0f} s)",
                flush=True,
            )
            return result

        def rounds(kind: str, compared: dict[str, Make]) -> dict[str, Run]:
            """CLIENTS clients on each, in turns (a, b, c, a, b, c, ...), each turn on fresh
            connections (the kernel spreads them over the workers anew), the turns summed."""
            merged = {key: Run() for key in compared}
            for turn in range(args.rounds):
                for key, make in compared.items():
                    seconds = args.seconds / args.rounds
                    measure = partial(throughput, make, CLIENTS, seconds, args.warmup_seconds)
                    merged[key].merge(phase(f"{kind} {key} {turn + 1}/{args.rounds}", measure, f"{kind} {key}"))
            return merged

        for key, make in makes.items():
            figures.latency[key] = phase(f"latency {key}", partial(latency, make, args.n, args.warmup), "latency")
        figures.throughput = rounds("throughput", makes)
        figures.balance = rounds(
            "balance",
            {"landing": landing_balance(landing, token), "project": site_get(f"{site}/ui/api/credits", readers)},
        )

        boots = log.boots()
        run_async(waiting_phase(figures, site, landing, readers, waiters, 6.0))
        figures.restarts["waiting"] = log.boots() - boots
        check_alive("the waiting top-ups")
        print(f"  waiting top-ups: done ({time.monotonic() - began:.0f} s)", flush=True)

        # The claim: the same 1-client top-up at 10^3 rows, then at 10^6 (fresh limits for everyone).
        truncate_attempts()
        topupers.reset()
        for key, first, last in (("1e3", 1, 1000), ("1e6", 1001, 1_000_000)):
            figures.fill_seconds[key] = fill(first, last)
            figures.claim_rows[key] = attempt_rows()
            measure = partial(latency, makes["project"], args.claim_n, args.warmup)
            figures.claims[key] = phase(f"claim {key}", measure, "claim")

        machine[-1] += f", at end {loadavg()}"
        print()
        print(report(figures, machine, args, time.monotonic() - began))
        failed = False
        return 0
    finally:
        tear_down(children, django_ready, args.postgres, database, redis_db, logs, keep_logs=failed or args.keep_logs)


def add_service_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every server bench takes: the PostgreSQL server, the Redis database, the logs."""
    parser.add_argument(
        "--postgres",
        type=server_url,
        default="postgres://postgres@127.0.0.1:5432",
        help="the server (a database in the URL is ignored: a throwaway one is made and dropped)",
    )
    parser.add_argument("--redis-db", type=int, default=None, help="default: the highest-numbered empty one")
    parser.add_argument("--keep-logs", action="store_true", help="keep the process logs (and print their folder)")


def site_environment(
    settings_module: str, postgres: str, database: str, redis_db: int, landing: str, token: str, **extra: str
) -> dict[str, str]:
    """The site's environment as production has it (DEBUG off, no sandbox), on the bench's own
    database, Redis database and landing, bound to loopback; gunicorn's own variables dropped."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_") and k != "REEF_SERVER"}
    return {
        **inherited,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "off",
        "VERS_SANDBOX": "off",
        "DATABASE_URL": f"{postgres}/{database}",
        "CACHE_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "VERS_LANDING_URL": landing,
        "VERS_AUTH_TOKEN": token,
        "HOST": "127.0.0.1",  # loopback only (production binds every interface)
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def set_up_django(postgres: str, database: str, env: dict[str, str]) -> str:
    """Create and migrate the throwaway database, with Django set up in this process on the
    site's environment; the server's version."""
    create_database(postgres, database)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        row = cursor.fetchone()
    return str(row[0]) if row else "?"


def tear_down(
    children: list[Any], django_ready: bool, postgres: str, database: str, redis_db: int, logs: Path, *, keep_logs: bool
) -> None:
    """Stop the processes (last started first), close this process's connections, drop the
    database, empty the Redis database, and remove the logs unless they are kept."""
    for child in reversed(children):
        child.stop()
    if django_ready:
        from django.db import connections

        for conn in connections.all():
            conn.close()
            close_pool = getattr(conn, "close_pool", None)
            if close_pool is not None:
                close_pool()
    with contextlib.suppress(Exception):
        drop_database(postgres, database)
    with contextlib.suppress(Exception):
        redis.Redis(host="127.0.0.1", port=6379, db=redis_db).flushdb()
    if keep_logs:
        print(f"process logs: {logs}", file=sys.stderr)
    else:
        for path in logs.iterdir():
            path.unlink()
        logs.rmdir()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
