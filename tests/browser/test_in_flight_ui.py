"""One top-up in flight per person, as a person meets it: a second tab, a reload, a teammate.

A real Chromium against the live server and the sandbox landing over HTTP; the landing answers
late, so the first top-up is still in flight when the second click comes.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from credits.models import Status, TopupAttempt
from tests.browser.conftest import session_cookie
from tests.browser.pages import header_balance, open_menu

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The recent top-ups checked every 100 ms (growing to 400 ms), the balance every second.
FAST = "window.reefCredits = {pollMs: 100, pollMaxMs: 400, refreshMs: 1000};"


@pytest.fixture
def late(sandbox: Any, settings: Any) -> Any:
    """The landing charges at once and answers 4 s later, within the site's wait: room for a
    second tab to open its menu and click on a busy machine while the first is in flight."""
    settings.CREDITS = {**settings.CREDITS, "TIMEOUT": 10.0}
    sandbox.state.configure(delay=4.0)
    return sandbox


def charged(sandbox: Any) -> list[int]:
    return [c["amountCents"] for c in sandbox.state.snapshot()["charges"]]


def wait_until_claimed(cents: int) -> None:
    """Until the server has written the attempt: its landing call is then under way."""
    deadline = time.monotonic() + 5
    while not TopupAttempt.objects.filter(amount_cents=cents).exists():
        assert time.monotonic() < deadline, "the first top-up was never claimed"
        time.sleep(0.05)


def chat_page(page: Page, live_server: Any) -> Page:
    page.add_init_script(FAST)
    page.goto(live_server.url + "/ui/")
    return page


def test_a_second_tab_waits_for_the_first_and_shows_its_result(new_page, live_server, late):
    first = chat_page(new_page(), live_server)
    second = chat_page(first.context.new_page(), live_server)
    first_menu = open_menu(first)
    first_menu.get_by_role("button", name="$10").click()
    wait_until_claimed(1000)

    second_menu = open_menu(second)
    second_menu.get_by_role("button", name="$10").click()
    expect(second_menu.get_by_role("status")).to_contain_text("Your $10 top-up is still being processed")
    expect(second_menu.get_by_role("status")).to_have_text("Added $10", timeout=8000)
    expect(first_menu.get_by_role("status")).to_have_text("Added $10", timeout=8000)
    assert charged(late) == [1000]
    assert TopupAttempt.objects.get().status == Status.SUCCEEDED


def test_after_a_reload_the_page_says_at_once_that_the_top_up_is_under_way(new_page, live_server, late):
    page = chat_page(new_page(), live_server)
    open_menu(page).get_by_role("button", name="$25").click()
    wait_until_claimed(2500)
    page.reload()
    started = time.monotonic()
    menu = open_menu(page)
    expect(menu.get_by_role("status")).to_have_text("Your $25 top-up is still being processed.", timeout=1000)
    assert time.monotonic() - started < 1.5

    menu.get_by_role("button", name="$10").click()  # nothing new is charged while the $25 is under way
    expect(menu.get_by_role("status")).to_contain_text("Your $25 top-up is still being processed")
    expect(menu.get_by_role("status")).to_have_text("Added $25", timeout=8000)
    expect(header_balance(page)).to_have_text("$35.00")
    assert charged(late) == [2500]
    assert not TopupAttempt.objects.filter(amount_cents=1000).exists()


def test_continue_is_offered_when_a_teammate_adds_credits(
    browser: Browser, new_page, live_server, demo, other_user, settings
):
    demo.state.configure(credits=0)  # the team's credits are gone
    page = chat_page(new_page(), live_server)
    page.get_by_label("Message", exact=True).fill("Summarise the incidents, please.")
    page.get_by_role("button", name="Send").click()
    stopped = page.locator(".chat-message--assistant").last
    expect(stopped).to_contain_text("No credits available")
    continue_button = stopped.get_by_role("button", name="Continue")
    expect(continue_button).to_be_hidden()

    teammate = browser.new_context(viewport={"width": 1100, "height": 760}, locale="en-US")
    try:
        teammate.add_cookies([session_cookie(other_user, live_server.url)])  # type: ignore[list-item]
        theirs = teammate.new_page()
        theirs.goto(live_server.url + "/ui/")
        menu = open_menu(theirs)
        menu.get_by_role("button", name="$25").click()
        expect(menu.get_by_role("status")).to_have_text("Added $25")
    finally:
        teammate.close()
    expect(continue_button).to_be_visible(timeout=2500)  # within one balance refresh, no reload
    expect(header_balance(page)).to_have_text("$25.00")
