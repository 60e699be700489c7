"""Real processes for tests: the site under gunicorn and the background worker (db_worker),
and a logged-in HTTP client for a site running anywhere.

They share the test database (the test must use ``django_db(transaction=True)``) and point
at the landing the test gives them. Each runs in its own process group, so a test can kill
one with SIGKILL as a crash would.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent


# --- reef_site's own settings in a child process -------------------------------------------

MASKED = (
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "CACHE_URL",
    "VERS_LANDING_URL",
    "VERS_AUTH_TOKEN",
    "VERS_LANDING_TIMEOUT",
    "VERS_SANDBOX",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_PROXY_SSL_HEADER",
    "CSRF_TRUSTED_ORIGINS",
    "DATABASE_POOL",
    "DATABASE_POOL_MIN_SIZE",
    "DATABASE_POOL_MAX_SIZE",
    "DATABASE_POOL_TIMEOUT",
    "LOG_LEVEL",
    "CREDITS_TOPUP_PERMISSION",
    "CREDITS_TOPUP_CONTACT",
    "REEF_SERVER",
    "CREDITS_SAMPLE_MINUTES",
    "CREDITS_WARN_HOURS",
    "CREDITS_LOW_BALANCE_DOLLARS",
    "CREDITS_ALERT_EMAILS",
    "CREDITS_ALERT_WEBHOOK_URL",
    "CREDITS_ALERT_WEBHOOK_SECRET",
    "EMAIL_URL",
    "DEFAULT_FROM_EMAIL",
    "SITE_URL",
)

GUNICORN_VARS = (
    "PORT",
    "HOST",
    "WEB_CONCURRENCY",
    "FORWARDED_ALLOW_IPS",
    "ACCESS_LOG",
    "LOG_LEVEL",
    "GUNICORN_TIMEOUT",
    "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_KEEPALIVE",
    "GUNICORN_MAX_REQUESTS",
    "GUNICORN_MAX_REQUESTS_JITTER",
)


def reef_site_environment(**env: str) -> dict[str, str]:
    """A child's environment for reef_site's own settings: nothing from this process or a
    developer's .env (empty values mask it: read_env never overrides a variable that is set)."""
    # DJANGO_ALLOW_ASYNC_UNSAFE is the browser tests' (tests/browser/conftest.py), never a site's.
    dropped = {"GUNICORN_CMD_ARGS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = {k: v for k, v in os.environ.items() if k not in MASKED and k not in dropped}
    base.update(dict.fromkeys((*MASKED, *GUNICORN_VARS), ""))
    base.update(
        {
            "DJANGO_SETTINGS_MODULE": "reef_site.settings",
            "DEBUG": "off",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
    )
    return base


def logged_in_client(url: str, user: Any, timeout: float = 10.0) -> httpx.Client:
    """An HTTP client logged in as ``user`` on the site at ``url``, as the widget is one:
    session cookie, CSRF cookie and the CSRF header."""
    client = Client()
    client.force_login(user)
    csrf = secrets.token_hex(16)
    cookies = {
        django_settings.SESSION_COOKIE_NAME: client.cookies[django_settings.SESSION_COOKIE_NAME].value,
        django_settings.CSRF_COOKIE_NAME: csrf,
    }
    return httpx.Client(base_url=url, cookies=cookies, headers={"X-CSRFToken": csrf}, timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(**extra: str) -> dict[str, str]:
    """The environment for a child process: this test's database, token and CREDITS."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.process_settings",
        "SECRET_KEY": django_settings.SECRET_KEY,
        "REEF_TEST_TOKEN": django_settings.TEST_TOKEN,
        "REEF_TEST_CREDITS": json.dumps(django_settings.CREDITS),
        "REEF_TEST_DATABASE": str(connection.settings_dict["NAME"]),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the browser tests' setting, never a site's
    return env


class Process:
    """A child process in its own group; ``kill()`` is a crash (SIGKILL), ``stop()`` a clean stop."""

    def __init__(self, args: list[str], log: Path, **env: str) -> None:
        self.log = log
        self._out = log.open("ab")
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=environment(**env), stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=15)
        self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_site(log: Path, port: int | None = None, workers: int = 1, **env: str) -> tuple[Process, str]:
    """The site as in production (gunicorn with uvicorn workers, reef_site/gunicorn.conf.py) on
    loopback; waits until it answers."""
    port = port or free_port()
    process = Process(
        [sys.executable, "-m", "gunicorn", "--config", "reef_site/gunicorn.conf.py", "reef_site.asgi:application"],
        log,
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY=str(workers),
        GUNICORN_GRACEFUL_TIMEOUT="1",
        **env,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(url), 30, f"the site did not start:\n{process.output()}", process)
    return process, url


def start_worker(log: Path) -> Process:
    """``manage.py db_worker``: the background worker that runs the settlement tasks."""
    return Process(
        [sys.executable, "manage.py", "db_worker", "--interval", "0.1", "--no-startup-delay", "--no-reload", "-v", "2"],
        log,
    )


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/accounts/login/", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def wait_for(condition: Callable[[], Any], seconds: float, message: str, process: Process | None = None) -> Any:
    """Poll ``condition`` until it is truthy; fail with ``message`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and not process.alive():
            break
        time.sleep(0.05)
    raise AssertionError(message)
