"""Shared fixtures: a real sandbox landing on loopback, users, and JSON API callers."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test import Client
from django.test.testcases import LiveServerThread
from django.urls import reverse
from pytest_django.live_server_helper import LiveServer

from credits.testing import SandboxLanding

# tests/app is the app's own run under its minimal settings (make test-app); every other run,
# the host site's, leaves it out.
collect_ignore = [] if os.environ.get("DJANGO_SETTINGS_MODULE") == "tests.app.settings" else ["app"]


class _RoomyServer(ThreadedWSGIServer):
    request_queue_size = 128  # many simultaneous connections: Django's default backlog is 10


class _RoomyServerThread(LiveServerThread):
    server_class = _RoomyServer


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    """pytest-django's live server on 127.0.0.1, able to take many connections at once."""
    server = LiveServer("127.0.0.1", start=False)
    plain = server.thread
    server.thread = _RoomyServerThread(
        plain.host, static_handler=plain.static_handler, connections_override=plain.connections_override
    )
    server.thread.daemon = True
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def landing() -> Iterator[SandboxLanding]:
    """One sandbox landing for the whole run, over real HTTP on 127.0.0.1."""
    with SandboxLanding(django_settings.TEST_TOKEN) as server:
        yield server


@pytest.fixture
def sandbox(landing: SandboxLanding, settings: Any) -> SandboxLanding:
    """The sandbox landing, reset to $10 and mode ok, with CREDITS pointing at it."""
    landing.state.configure(reset=True, credits=10)
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": landing.url}
    return landing


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("ada", "ada@example.com", "pw-ada-123")


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob", "bob@example.com", "pw-bob-123")


class Api:
    """A logged-in browser as the widget is one: session cookie, CSRF cookie and header."""

    def __init__(self, client: Client, csrf: str | None) -> None:
        self.client = client
        self.csrf = csrf

    def topup(self, body: Any = None, *, key: str | None = None, raw: bytes | str | None = None, **headers: str) -> Any:
        data = raw if raw is not None else json.dumps(body if body is not None else {"amountCents": 1000})
        extra = dict(headers)
        if self.csrf is not None:
            extra["X-CSRFToken"] = self.csrf
        if key is not None:
            extra["Idempotency-Key"] = key
        return self.client.post(
            reverse("credits:topup-credits"), data=data, content_type="application/json", headers=extra
        )

    def balance(self) -> Any:
        return self.client.get(reverse("credits:credits"))


def make_api(user: Any = None, *, csrf: bool = True) -> Api:
    client = Client(enforce_csrf_checks=True)
    token = None
    if csrf:
        token = secrets.token_hex(16)  # an unmasked 32-character secret, as Django accepts
        client.cookies["csrftoken"] = token
    if user is not None:
        client.force_login(user)
    return Api(client, token)


@pytest.fixture
def api(user: Any) -> Api:
    return make_api(user)


@pytest.fixture
def processes(tmp_path: Any) -> Iterator[Any]:
    """Start the site (gunicorn, as in production) and db_workers as processes of their own on
    the test database (the test needs ``django_db(transaction=True)``); all stopped at the end."""
    from tests.processes import Process, start_site, start_worker

    started: list[Process] = []

    class Start:
        def site(self, **env: str) -> tuple[Process, str]:
            process, url = start_site(tmp_path / f"site-{len(started)}.log", **env)
            started.append(process)
            return process, url

        def worker(self) -> Process:
            process = start_worker(tmp_path / f"worker-{len(started)}.log")
            started.append(process)
            return process

    yield Start()
    for process in started:
        process.stop()
