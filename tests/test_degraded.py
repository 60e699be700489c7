"""With Redis or PostgreSQL unreachable, the site as in production (gunicorn, reef_site's own
settings from the environment) degrades or fails fast rather than hanging or failing whole:

- Redis down: sessions come from the database and the balance from the landing, a top-up
  goes through, /healthz answers 200 "degraded", and the log says so without a traceback
  per request.
- PostgreSQL down (nothing listening, or a socket that accepts and never answers): /healthz
  answers 503 within a second, an API request a JSON 503 within a few seconds.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from django.conf import settings as django_settings
from django.db import connection

from reef_site import logfilters
from reef_site.logfilters import Throttle
from tests.processes import free_port, logged_in_client, reef_site_environment

# start_site sets these itself.
_SET_BY_START_SITE = ("HOST", "PORT", "WEB_CONCURRENCY", "GUNICORN_GRACEFUL_TIMEOUT")


def site_env(**env: str) -> dict[str, str]:
    """reef_site's own settings (not the tests'), so CACHE_URL and DATABASE_URL are read as in
    production; the secret key is this test's, so a session it makes is valid there."""
    full = reef_site_environment(SECRET_KEY=django_settings.SECRET_KEY, **env)
    return {name: value for name, value in full.items() if name not in _SET_BY_START_SITE}


def this_tests_database() -> str:
    """DATABASE_URL for the database this test runs on (SQLite or PostgreSQL)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user, password = quote(db["USER"] or "", safe=""), quote(db["PASSWORD"] or "", safe="")
    return f"postgres://{user}:{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class BlackHole:
    """A port on 127.0.0.1 that accepts connections and never answers: a database host that
    hangs, which a refused connection does not show."""

    def __init__(self) -> None:
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                self.accepted.append(self._listener.accept()[0])

    def __enter__(self) -> BlackHole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in [*self.accepted, self._listener]:
            sock.close()


def timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


# --- Redis down ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_with_redis_unreachable_the_site_serves_from_the_database_and_healthz_says_degraded(sandbox, user, processes):
    nobody = free_port()  # nothing listens there: every Redis call is refused
    server, url = processes.site(
        **site_env(
            CACHE_URL=f"redis://127.0.0.1:{nobody}/0",
            DATABASE_URL=this_tests_database(),
            VERS_LANDING_URL=sandbox.url,
            VERS_AUTH_TOKEN=django_settings.TEST_TOKEN,
        )
    )
    with logged_in_client(url, user) as browser:
        page = browser.get("/ui/")  # logged out, this would be a redirect to the log-in page
        assert page.status_code == 200, page.text[:500]
        assert 'action="/accounts/logout/"' in page.text  # the header of a logged-in page
        topup = browser.post("/ui/api/topup-credits", json={"amountCents": 1000}, headers={"Idempotency-Key": "k1"})
        assert topup.status_code == 200, topup.text
        assert len(sandbox.state.snapshot()["charges"]) == 1
        for _ in range(3):  # from the landing each time: nothing can be cached
            balance = browser.get("/ui/api/credits")
            assert (balance.status_code, balance.json()["credits"]) == (200, 20.0)
        health, took = timed(lambda: httpx.get(f"{url}/healthz", timeout=10))
    assert (health.status_code, health.json()) == (200, {"status": "degraded", "database": "ok", "cache": "degraded"})
    assert took < 1.0, took
    server.stop()
    log = server.output()
    # Every request above missed the cache several times; the log says so once (a minute).
    assert log.count("ERROR django_redis.cache Exception ignored") == 1, log
    assert f"127.0.0.1:{nobody}" in log and "Connection refused" in log
    assert log.count("health check: the cache did not keep a value") == 1, log
    assert "Internal Server Error" not in log


# --- PostgreSQL down ----------------------------------------------------------------------


@pytest.mark.parametrize("database", ["refused", "black hole"])
def test_with_postgresql_unreachable_healthz_answers_503_within_a_second_and_the_api_a_json_503(processes, database):
    with contextlib.ExitStack() as stack:
        hole = stack.enter_context(BlackHole()) if database == "black hole" else None
        port = hole.port if hole is not None else free_port()  # free: nothing listens there
        server, url = processes.site(**site_env(DATABASE_URL=f"postgres://reef@127.0.0.1:{port}/reef"))
        for _ in range(3):
            health, took = timed(lambda: httpx.get(f"{url}/healthz", timeout=30))
            assert (health.status_code, health.json()) == (503, {"status": "down", "database": "down", "cache": "ok"})
            assert took < 1.0, took
        # Any session cookie makes the view look the session up in the database.
        cookies = {"sessionid": "s" * 32}
        api, took = timed(lambda: httpx.get(f"{url}/ui/api/credits", cookies=cookies, timeout=30))
        assert api.status_code == 503
        assert api.headers["content-type"] == "application/json"
        assert api.json() == {
            "error": "The service is unavailable right now. Try again in a moment.",
            "code": "unavailable",
        }
        assert took < 5.0, took  # DATABASE_POOL_TIMEOUT, 3 s, and no more
        page, took = timed(lambda: httpx.get(f"{url}/ui/", cookies=cookies, timeout=30))
        assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
        assert "Traceback" not in page.text
        assert took < 5.0, took
        assert hole is None or hole.accepted  # the server did connect there, and got no answer
    server.stop()
    log = server.output()
    # The same failures, each logged once (a minute), with their reason.
    assert log.count("ERROR reef_site.health health check: the database does not answer") == 1, log
    assert log.count("ERROR reef_site.database the database could not serve the request; answered 503") == 1, log
    assert log.count("WARNING psycopg.pool error connecting") == 1, log
    assert "couldn't get a connection after 0.50 sec" in log  # the health check's own short wait


# --- the log during an outage -------------------------------------------------------------


def _record(name: str, message: str, *args: Any) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, args, None)


def test_the_throttle_lets_one_record_a_minute_through_per_message_and_counts_the_rest(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(logfilters, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    throttle = Throttle(loggers=["django_redis", "reef_site.health"], seconds=60)
    assert throttle.filter(_record("django_redis.cache", "Exception ignored"))
    assert not throttle.filter(_record("django_redis.cache", "Exception ignored"))
    assert throttle.filter(_record("reef_site.health", "health check: the cache did not keep a value"))
    assert throttle.filter(_record("django_redis_other", "Exception ignored"))  # not a logger it names
    assert throttle.filter(_record("django.request", "%s: %s", "Internal Server Error", "/"))
    assert throttle.filter(_record("django.request", "%s: %s", "Internal Server Error", "/"))
    for _ in range(4):
        assert not throttle.filter(_record("django_redis.cache", "Exception ignored"))
    clock[0] += 61
    later = _record("django_redis.cache", "Exception ignored")
    assert throttle.filter(later)
    assert later.getMessage() == "Exception ignored (and 5 more like it in the last 61 s)"
    assert not throttle.filter(_record("django_redis.cache", "Exception ignored"))


def test_the_console_throttles_the_outage_loggers_only(settings):
    console = settings.LOGGING["handlers"]["console"]
    assert console["filters"] == ["redact", "throttle"]
    throttle = settings.LOGGING["filters"]["throttle"]
    assert set(throttle["loggers"]) == {"django_redis", "psycopg.pool", "reef_site.health", "reef_site.database"}
    assert throttle["seconds"] == 60
