"""A fault-injection soak: many top-ups through real processes while the landing misbehaves.

The site runs under gunicorn, two ``db_worker`` processes settle in the background, and the
sandbox landing runs as a process of its own (so it can really be killed and started again,
with its money state kept in a state file). Client threads send top-ups from many users
while the sandbox answers late, hangs up after charging, declines at random, and is killed
by SIGKILL and restarted. Then the faults stop, the workers settle what is left, and the
invariants are checked:

* no attempt is left unsettled (``pending`` or ``unknown``);
* every charge at the landing is matched by exactly one ``succeeded`` attempt (by upstream
  key) and every ``succeeded`` attempt by exactly one charge, for the same amount;
* the charges add up, to the cent, to the succeeded attempts, and the landing's credits to
  its starting credits plus the charges.

Everything stays on 127.0.0.1 and every loop is bounded in count and in time.
:func:`run_soak` is used by ``tests/test_soak.py`` (small, in CI) and ``bench/soak.py``
(large). It needs Django set up on a database the child processes can share (in pytest:
``django_db(transaction=True)``).
"""

from __future__ import annotations

import json
import queue
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test.utils import override_settings

from credits.models import UNSETTLED, Status, TopupAttempt, format_dollars
from tests.processes import Process, free_port, logged_in_client, start_site, start_worker, wait_for

PRESETS_CENTS = (500, 1000, 2500, 5000)
STARTING_CREDITS_DOLLARS = 10
HTTP_TIMEOUT = 10.0  # every call to the site or the sandbox gives up after this
RETRIES = 4  # a client re-sends one top-up (same key) at most this many times
RETRY_PAUSE = 0.25  # seconds, times the retry's number, plus jitter
ABANDON = 0.3  # the chance a client walks away from an open outcome instead of re-sending (the tab is closed)
RESTART_DOWNTIME = 0.3  # seconds the sandbox stays down before it is started again
WORKERS = 2

# The settings the site and the workers run with (read from the environment at their start).
# The per-user limits are raised on purpose: a soak user sends several top-ups an hour, and a
# retry after a connection failure counts as an attempt of its own; the limits have tests of
# their own (test_limits.py).
SOAK_CREDITS = {
    "TIMEOUT": 1.0,  # a ``late`` answer (lateSeconds 1.5) comes after the site stopped waiting: unknown
    "CONNECT_TIMEOUT": 0.5,
    "PENDING_GRACE_SECONDS": 0.5,
    "SETTLE_BACKOFF_SECONDS": 0.2,
    "SETTLE_SWEEP_SECONDS": 0.2,
    "SETTLE_BACKOFF_MAX_SECONDS": 2.0,
    "MAX_ATTEMPTS_PER_HOUR": 1_000_000,
    "MAX_CENTS_PER_DAY": 10**12,
}


@dataclass
class SoakReport:
    """What a soak did and found; ``failures`` lists every invariant that did not hold."""

    topups: int
    users: int
    clients: int
    seed: int
    restarts: int = 0  # sandbox restarts actually done
    requests: int = 0  # calls to the site, retries included
    answers: Counter[str] = field(default_factory=Counter)  # the last answer each top-up got
    faults: dict[str, int] = field(default_factory=dict)  # injected by the sandbox, over all its lives
    landing_requests: int = 0  # top-up requests the landing received (settlement re-sends included)
    charges: int = 0
    charged_cents: int = 0
    attempts: int = 0  # attempt rows
    statuses: Counter[str] = field(default_factory=Counter)
    unknown_at_first: int = 0  # attempts first recorded as pending or unknown
    settled_by: Counter[str] = field(default_factory=Counter)
    succeeded: int = 0  # distinct upstream keys with a succeeded attempt
    succeeded_cents: int = 0
    unsettled: int = 0  # at the end
    load_seconds: float = 0.0
    settle_seconds: float | None = None  # from the end of the load until nothing was unsettled
    credits_start_cents: int = STARTING_CREDITS_DOLLARS * 100
    credits_end_cents: int = 0
    workdir: Path | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def table(self) -> str:
        """The figures as a small plain-text table."""

        def counts(counter: Counter[str] | dict[str, int]) -> str:
            return ", ".join(f"{name} {count}" for name, count in sorted(counter.items(), key=lambda i: -i[1])) or "-"

        settle = f"{self.settle_seconds:.1f} s" if self.settle_seconds is not None else "not reached"
        rows = [
            ("top-ups", f"{self.topups} from {self.users} users on {self.clients} clients, seed {self.seed}"),
            ("requests to the site", f"{self.requests} (retries of the same key included)"),
            ("answers (last per top-up)", counts(self.answers)),
            ("faults injected", f"{counts(self.faults)}; sandbox restarts {self.restarts}"),
            ("landing top-up requests", str(self.landing_requests)),
            ("charges at the landing", f"{self.charges} ({format_dollars(self.charged_cents)})"),
            ("succeeded attempts", f"{self.succeeded} ({format_dollars(self.succeeded_cents)})"),
            ("attempt rows", f"{self.attempts}: {counts(self.statuses)}"),
            ("outcome not known at first", str(self.unknown_at_first)),
            ("settled by", counts(self.settled_by)),
            ("unsettled at the end", str(self.unsettled)),
            ("load", f"{self.load_seconds:.1f} s"),
            ("time to settle all", settle),
            (
                "landing credits",
                f"{format_dollars(self.credits_start_cents)} + {format_dollars(self.charged_cents)}"
                f" -> {format_dollars(self.credits_end_cents)}",
            ),
            ("invariants", "all hold" if self.ok else f"{len(self.failures)} FAILED"),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"  {name:<{width}}  {value}" for name, value in rows]
        lines += [f"  ! {failure}" for failure in self.failures]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Job:
    index: int
    user: int
    amount_cents: int
    key: str


class _Sandbox:
    """The sandbox landing as a child process on a fixed port, with its state in a file."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.state_file = workdir / "landing.json"
        self.log = workdir / "landing.log"
        self.process: Process | None = None
        self.lock = threading.Lock()

    def start(self, faults: dict[str, Any] | None) -> None:
        args = [sys.executable, "manage.py", "sandbox_landing", "--port", str(self.port)]
        args += ["--state-file", str(self.state_file), "--credits", str(STARTING_CREDITS_DOLLARS)]
        if faults:
            args += ["--faults", json.dumps(faults)]
        process = Process(args, self.log)
        try:
            wait_for(self._answers, 30, f"the sandbox did not start:\n{process.output()[-3000:]}", process)
        except AssertionError:
            process.kill()
            raise
        self.process = process

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def state(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/sandbox/state", timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def configure(self, **changes: Any) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/sandbox/configure", json=changes, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/sandbox/state", timeout=2).status_code == 200
        except httpx.TransportError:
            return False


def _retryable(status: int, code: str) -> bool:
    """Whether a client re-sends the same key after this answer (the widget keeps the key on these)."""
    return status in (0, 502, 504) or (status == 409 and code in ("unsettled", "in_progress"))


class _Load:
    """The client threads, their tallies and the progress the restarts are timed by."""

    def __init__(
        self, jobs: list[_Job], clients: list[httpx.Client], seed: int, deadline: float, abandon: float
    ) -> None:
        self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        for job in jobs:
            self.jobs.put(job)
        self.clients = clients
        self.seed = seed
        self.deadline = deadline
        self.abandon = abandon
        self.lock = threading.Lock()
        self.started = 0
        self.requests = 0
        self.answers: Counter[str] = Counter()

    def run_thread(self, number: int) -> None:
        rng = random.Random(self.seed * 1000 + number)
        while time.monotonic() < self.deadline:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                return
            with self.lock:
                self.started += 1
            answer = self._topup(self.clients[job.user], job, rng)
            with self.lock:
                self.answers[answer] += 1

    def _topup(self, client: httpx.Client, job: _Job, rng: random.Random) -> str:
        """Send one top-up, re-sending its key after an answer that leaves the outcome open; the last answer."""
        label = "not sent (time limit)"
        for send in range(1 + RETRIES):
            if send and time.monotonic() + RETRY_PAUSE * (send + 1) > self.deadline:
                break
            if send:
                time.sleep(RETRY_PAUSE * send + rng.uniform(0, RETRY_PAUSE))
            with self.lock:
                self.requests += 1
            try:
                response = client.post(
                    "/ui/api/topup-credits",
                    json={"amountCents": job.amount_cents},
                    headers={"Idempotency-Key": job.key},
                )
                status = response.status_code
                try:
                    body = response.json()
                except ValueError:
                    body = {}
                code = str(body.get("code", "")) if isinstance(body, dict) else ""
                label = f"{status} {code or ('ok' if status == 200 else '-')}"
            except httpx.TransportError as exc:
                status, code = 0, type(exc).__name__
                label = f"no answer ({code})"
            if not _retryable(status, code) or rng.random() < self.abandon:
                break
        return label


def _restarter(
    sandbox: _Sandbox,
    load: _Load,
    thresholds: list[int],
    faults: dict[str, Any],
    done: threading.Event,
    report: SoakReport,
) -> None:
    """Kill the sandbox by SIGKILL and start it again (same port, same state file) as the load passes each threshold."""
    for number, threshold in enumerate(thresholds, start=1):
        while not done.is_set() and time.monotonic() < load.deadline:
            with load.lock:
                if load.started >= threshold:
                    break
            time.sleep(0.02)
        else:
            return
        with sandbox.lock:
            sandbox.kill()
            time.sleep(RESTART_DOWNTIME)  # requests in between cannot connect
            try:
                # A new seed for each life: the same one would replay the first life's faults.
                sandbox.start({**faults, "seed": faults["seed"] + number})
            except AssertionError as exc:
                report.failures.append(f"sandbox restart {number} failed: {exc}")
                return
        report.restarts += 1


def run_soak(
    *,
    topups: int,
    users: int,
    clients: int,
    seed: int,
    workdir: Path,
    restarts: int,
    late: float = 0.15,
    drop: float = 0.15,
    decline: float = 0.1,
    late_seconds: float = 1.5,
    abandon: float = ABANDON,
    time_limit: float = 300.0,
    settle_limit: float = 120.0,
) -> SoakReport:
    """Run the soak and check its invariants; never raises for a failed invariant (see ``report.failures``).

    ``topups`` top-ups (fresh Idempotency-Key each, amounts from the presets, drawn by a
    ``seed``-ed Random) are spread over ``users`` new users and sent from ``clients``
    threads within ``time_limit`` seconds. A client re-sends a top-up whose outcome is open
    (409 ``unsettled``/``in_progress``, 502, 504, no answer) under the same key up to
    ``RETRIES`` times, unless it walks away (chance ``abandon`` each time), which leaves the
    attempt to the workers or the user's next top-up. The sandbox is restarted ``restarts`` times
    during the load. Then its faults are turned off and the workers get ``settle_limit``
    seconds to settle every attempt. Processes' logs are written to ``workdir``.
    """
    if topups < 1 or users < 1 or clients < 1 or restarts < 0:
        raise ValueError("topups, users and clients must be positive, restarts not negative")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "landing.json").unlink(missing_ok=True)
    port = free_port()
    credits = {**django_settings.CREDITS, **SOAK_CREDITS, "LANDING_URL": f"http://127.0.0.1:{port}"}
    faults = {"late": late, "drop": drop, "decline": decline, "lateSeconds": late_seconds, "seed": seed}
    # The child processes read CREDITS from the environment made when they start.
    with override_settings(CREDITS=credits):
        return _run(
            topups=topups,
            users=users,
            clients=clients,
            seed=seed,
            workdir=workdir,
            restarts=restarts,
            sandbox=_Sandbox(workdir, port),
            faults=faults,
            abandon=abandon,
            time_limit=time_limit,
            settle_limit=settle_limit,
        )


def _run(
    *,
    topups: int,
    users: int,
    clients: int,
    seed: int,
    workdir: Path,
    restarts: int,
    sandbox: _Sandbox,
    faults: dict[str, Any],
    abandon: float,
    time_limit: float,
    settle_limit: float,
) -> SoakReport:
    report = SoakReport(topups=topups, users=users, clients=clients, seed=seed, workdir=workdir)
    rng = random.Random(seed)
    accounts = [get_user_model().objects.create_user(f"soak-{seed}-{i}") for i in range(users)]
    jobs = [_Job(i, rng.randrange(users), rng.choice(PRESETS_CENTS), f"soak-{seed}-{i}") for i in range(topups)]
    processes: list[Process] = []
    http_clients: list[httpx.Client] = []
    done = threading.Event()
    restarter: threading.Thread | None = None
    try:
        sandbox.start(faults)
        site, url = start_site(workdir / "site.log")
        processes.append(site)
        processes += [start_worker(workdir / f"worker-{n}.log") for n in range(WORKERS)]
        http_clients += [logged_in_client(url, account) for account in accounts]

        started = time.monotonic()
        load = _Load(jobs, http_clients, seed, started + time_limit, abandon)
        thresholds = [topups * n // (restarts + 1) for n in range(1, restarts + 1)]
        restarter = threading.Thread(
            target=_restarter, args=(sandbox, load, thresholds, faults, done, report), name="soak-restarter"
        )
        restarter.start()
        threads = [threading.Thread(target=load.run_thread, args=(n,), name=f"soak-client-{n}") for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, load.deadline - time.monotonic()) + HTTP_TIMEOUT * 2)
        done.set()
        restarter.join(60)
        load_ended = time.monotonic()
        report.load_seconds = load_ended - started
        report.requests, report.answers = load.requests, load.answers
        if any(thread.is_alive() for thread in threads) or restarter.is_alive():
            report.failures.append("a client or the restarter thread did not end in time")

        with sandbox.lock:
            if sandbox.process is None:  # a restart failed half-way
                sandbox.start(None)
            if sandbox.configure(faults=None)["faultConfig"] is not None:
                report.failures.append("the sandbox's faults could not be turned off")

        attempts = TopupAttempt.objects.filter(user__in=accounts)
        deadline = load_ended + settle_limit
        while time.monotonic() < deadline and attempts.filter(status__in=UNSETTLED).exists():
            time.sleep(0.1)
        if not attempts.filter(status__in=UNSETTLED).exists():
            report.settle_seconds = time.monotonic() - load_ended

        for process in processes:  # nothing more reaches the landing: its state is final
            process.stop()
        _check(
            report,
            sandbox.state(),
            list(attempts.values("upstream_key", "amount_cents", "status", "first_status", "settled_by")),
        )
    finally:
        done.set()
        if restarter is not None:
            restarter.join(60)
        for client in http_clients:
            client.close()
        for process in processes:
            process.stop()
        with sandbox.lock:
            sandbox.stop()
    return report


def _check(report: SoakReport, landing: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """Fill in the figures from the landing's final state and the attempt rows; record every failed invariant."""
    failures = report.failures
    charges: list[dict[str, Any]] = landing["charges"]
    report.faults = dict(landing["faults"])
    report.landing_requests = int(landing["topupRequests"])
    report.charges = len(charges)
    report.charged_cents = sum(int(c["amountCents"]) for c in charges)
    report.credits_end_cents = round(float(landing["credits"]) * 100)
    report.attempts = len(rows)
    report.statuses = Counter(str(r["status"]) for r in rows)
    report.unknown_at_first = sum(1 for r in rows if r["first_status"] in UNSETTLED)
    report.settled_by = Counter(str(r["settled_by"]) for r in rows if r["settled_by"])
    report.unsettled = sum(1 for r in rows if r["status"] in UNSETTLED)

    succeeded = [r for r in rows if r["status"] == Status.SUCCEEDED]
    by_key = Counter(r["upstream_key"] for r in succeeded)
    report.succeeded = len(by_key)
    report.succeeded_cents = sum(int(r["amount_cents"]) for r in succeeded)
    charged = Counter(c["key"] for c in charges)

    if report.unsettled:
        failures.append(f"{report.unsettled} attempt(s) left unsettled at the end")
    if twice := sorted(k for k, n in charged.items() if n > 1):
        failures.append(f"charged more than once at the landing: {twice[:5]}")
    if twice := sorted(k for k, n in by_key.items() if n > 1):
        failures.append(f"an upstream key with two succeeded attempts: {twice[:5]}")
    if unmatched := sorted(set(charged) - set(by_key)):
        failures.append(f"{len(unmatched)} charge(s) with no succeeded attempt: {unmatched[:5]}")
    if uncharged := sorted(set(by_key) - set(charged)):
        failures.append(f"{len(uncharged)} succeeded attempt(s) with no charge: {uncharged[:5]}")
    charge_amounts = {c["key"]: int(c["amountCents"]) for c in charges}
    if wrong := sorted(
        r["upstream_key"]
        for r in succeeded
        if charge_amounts.get(r["upstream_key"], r["amount_cents"]) != r["amount_cents"]
    ):
        failures.append(f"charged a different amount than the attempt: {wrong[:5]}")
    if report.charged_cents != report.succeeded_cents:
        failures.append(f"charges {report.charged_cents} cents != succeeded attempts {report.succeeded_cents} cents")
    if report.credits_end_cents != report.credits_start_cents + report.charged_cents:
        failures.append(
            f"landing credits {report.credits_end_cents} cents != {report.credits_start_cents} + {report.charged_cents}"
        )
    if landing.get("faultConfig") is not None:
        failures.append("the sandbox still injects faults at the end")
