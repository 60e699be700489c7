"""reef_site's middleware under ASGI (reef_site/middleware.py): hooks that do no I/O run on the
event loop; a session save, a message store, a static file and the health check go to a thread.

Driven through Django's AsyncClient, which runs the middleware in async mode as the ASGI
server does. Each test runs its coroutine with ``async_to_sync``, so the thread trips land in
the test's own thread and see its database transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.messages.storage.session import SessionStorage
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.test import AsyncClient
from django.utils import deprecation

pytestmark = pytest.mark.django_db


def run(coro: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return async_to_sync(coro)()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[type]:
    """The classes whose hooks Django's MiddlewareMixin sends to a thread, in order."""
    seen: list[type] = []
    original = deprecation.sync_to_async

    def recording(func: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(type(func.__self__))
        return original(func, *args, **kwargs)

    monkeypatch.setattr(deprecation, "sync_to_async", recording)
    return seen


def test_only_the_middleware_check_deploy_looks_for_by_name_go_to_a_thread(user, trips):
    async def go() -> Any:
        client = AsyncClient()
        await client.aforce_login(user)
        trips.clear()
        return await client.get("/ui/api/recent-topups")

    response = run(go)
    assert response.status_code == 200 and response.json() == {"topups": []}
    # Django's three, each on the way in (but XFrameOptions, which has no request hook) and out;
    # the others take none (with Django's, WhiteNoise's and django-csp's own: 17 trips).
    assert set(trips) == {SecurityMiddleware, CsrfViewMiddleware, XFrameOptionsMiddleware}
    assert len(trips) == 5


def test_a_log_in_saves_the_session_in_a_thread(user):
    user.set_password("a long enough password")
    user.save()

    async def go() -> tuple[Any, Any]:
        client = AsyncClient()
        logged_in = await client.post(
            "/accounts/login/", {"username": user.username, "password": "a long enough password"}
        )
        return logged_in, await client.get("/ui/api/recent-topups")

    logged_in, after = run(go)
    assert logged_in.status_code == 302  # a save on the event loop would have been a 500
    assert after.status_code == 200  # the saved session logs the next request in


def test_a_message_stored_in_the_session_is_stored_in_a_thread_and_shown(admin_user, settings):
    settings.MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
    path = f"/admin/auth/user/{admin_user.pk}/change/"

    async def go() -> Any:
        client = AsyncClient()
        await client.aforce_login(admin_user)
        form = await client.get(path)
        assert form.status_code == 200
        saved = await client.post(
            path,
            {
                "username": admin_user.username,
                "email": "root@example.com",
                "is_active": "on",
                "is_staff": "on",
                "is_superuser": "on",
                "date_joined_0": "2026-01-01",
                "date_joined_1": "00:00:00",
                "initial-date_joined_0": "2026-01-01",
                "initial-date_joined_1": "00:00:00",
                "_continue": "1",
            },
        )
        assert saved.status_code == 302, saved.content[:2000]
        return await client.get(saved["Location"])

    shown = run(go)
    assert shown.status_code == 200
    assert "was changed successfully" in shown.content.decode()
    assert SessionStorage.session_key not in shown.asgi_request.session  # shown once, then gone


@pytest.mark.parametrize("autorefresh", [True, False])
def test_a_static_file_is_served_and_anything_else_passes_on(settings, tmp_path, autorefresh):
    settings.WHITENOISE_AUTOREFRESH = autorefresh
    settings.STATIC_ROOT = tmp_path  # nothing collected: the finders serve

    async def go() -> tuple[Any, Any]:
        client = AsyncClient()
        return await client.get("/static/credits/credits.css"), await client.get("/accounts/login/")

    static, page = run(go)
    assert static.status_code == 200
    assert b"".join(static.streaming_content) if static.streaming else static.content  # type: ignore[attr-defined]
    assert static["Content-Type"].startswith("text/css")
    assert page.status_code == 200 and b"<form" in page.content


def test_the_health_check_reads_the_database_in_a_thread():
    async def go() -> Any:
        return await AsyncClient().get("/healthz")

    response = run(go)
    assert response.status_code == 200  # on the event loop the query would have been refused
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}
