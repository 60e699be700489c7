"""Playwright fixtures: one headless Chromium per session, a fresh logged-in context per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM must not mind.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: `make chromium` installs Debian's", pytrace=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save their screenshots: docs/ under `make screenshots`
    (SCREENSHOTS_DIR=docs), else a temporary folder, so a test run leaves the tree as it was."""
    folder = os.environ.get("SCREENSHOTS_DIR")
    return Path(folder).resolve() if folder else tmp_path_factory.mktemp("screenshots")


def session_cookie(user: Any, url: str) -> dict[str, Any]:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    return {"name": cookie.key, "value": cookie.value, "url": url}


@pytest.fixture
def new_page(browser: Browser, live_server: Any, user: Any) -> Iterator[Callable[..., Page]]:
    """``new_page(javascript=True, width=1100)``: a page of a fresh context, logged in as ``user``."""
    contexts: list[BrowserContext] = []

    def make(
        *, javascript: bool = True, width: int = 1100, height: int = 760, dark: bool = False, scale: float = 1
    ) -> Page:
        context = browser.new_context(
            device_scale_factor=scale,
            java_script_enabled=javascript,
            viewport={"width": width, "height": height},
            color_scheme="dark" if dark else "light",
            locale="en-US",
            timezone_id="UTC",
        )
        context.set_default_timeout(5000)
        context.add_cookies([session_cookie(user, live_server.url)])  # type: ignore[list-item]
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    errors: list[str] = []
    yield make
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def hostsite(settings: Any) -> Any:
    """Serve the second host site (tests/hostsite): its URLs and templates, the app under billing/api/."""
    from tests.hostsite import settings as host

    settings.ROOT_URLCONF = host.ROOT_URLCONF
    settings.TEMPLATES = host.TEMPLATES
    settings.MIDDLEWARE = host.MIDDLEWARE  # the host's own stack: no CSP of reef_site's over its page
    settings.CSRF_COOKIE_HTTPONLY = host.CSRF_COOKIE_HTTPONLY
    return settings


@pytest.fixture
def demo(sandbox: Any, settings: Any) -> Any:
    """The chat's demo agent (the default), spending 25 cents an answer through the sandbox."""
    settings.CHAT = {"AGENT": "chat.agents.DemoAgent", "SPEND_CENTS": 25}
    settings.CREDITS = {**settings.CREDITS, "SANDBOX": True}
    return sandbox
