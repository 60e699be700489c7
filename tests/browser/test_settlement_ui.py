"""The truth in the UI: an outcome that was not known at once, shown as it settles.

The landing charges and answers too late (a 504 here); the widget keeps its key (also in
sessionStorage), watches the attempt in the recent top-ups and says what happened once the
test settles it, as the background worker would, without a click.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from credits.models import UNSETTLED, SettledBy, Source, Status, TopupAttempt
from credits.settlement import settle
from tests.browser.pages import header_balance, open_menu

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHAT = "/ui/"
RETRY_SAFE = "Pressing the same amount again is safe: it cannot be charged twice."
TIMED_OUT = "The billing service did not answer in time"
# The widget checks the recent top-ups every 100 ms, growing to 400 ms, instead of 2 s to 15 s.
FAST_POLLING = "window.reefCredits = {pollMs: 100, pollMaxMs: 400};"
STORED = "sessionStorage.getItem('reef-credits:header:/ui/')"


@pytest.fixture
def slow(sandbox: Any, settings: Any) -> Any:
    """A landing answer later than the site waits for: the top-up is charged, the site says 504."""
    settings.CREDITS = {**settings.CREDITS, "TIMEOUT": 0.5, "PENDING_GRACE_SECONDS": 0}
    sandbox.state.configure(delay=1.5)
    return sandbox


def page_of(new_page: Any, live_server: Any, path: str = CHAT) -> Page:
    page: Page = new_page()
    page.add_init_script(FAST_POLLING)
    page.goto(live_server.url + path)
    return page


def settle_now(sandbox: Any) -> list[str]:
    """What the background worker does: re-send every unsettled attempt under its own key."""
    sandbox.state.configure(delay=0)
    return [str(settle(a, SettledBy.BACKGROUND).status) for a in TopupAttempt.objects.filter(status__in=UNSETTLED)]


def listen_for_top_ups(page: Page) -> None:
    page.evaluate("window.toppedUp = []; document.addEventListener('credits:topped-up', e => toppedUp.push(e.detail))")


def test_the_header_shows_checking_then_the_settled_outcome_without_a_click(new_page, live_server, slow):
    page = page_of(new_page, live_server)
    expect(header_balance(page)).to_have_text("$10.00")
    listen_for_top_ups(page)
    menu = open_menu(page)
    menu.get_by_role("button", name="$25").click()
    alert = menu.get_by_role("alert")
    expect(alert).to_contain_text(TIMED_OUT)
    expect(alert).to_contain_text(RETRY_SAFE)
    expect(menu.get_by_role("listitem").first).to_contain_text("Checking…")
    attempt = TopupAttempt.objects.get()
    assert json.loads(page.evaluate(STORED))["attempt"] == str(attempt.pk)

    assert settle_now(slow) == [Status.SUCCEEDED]
    expect(menu.get_by_role("listitem").first).to_contain_text("Succeeded")
    expect(menu.get_by_role("status")).to_have_text("Added $25")
    expect(alert).to_be_empty()
    expect(header_balance(page)).to_have_text("$35.00")
    assert page.evaluate("toppedUp.map(d => [d.amountCents, d.source])") == [[2500, "header"]]
    assert page.evaluate(STORED) is None
    assert [c["amountCents"] for c in slow.state.snapshot()["charges"]] == [2500]

    # Nothing is unsettled any more: the open menu polls no more.
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "recent-topups" in request.url else None)
    page.wait_for_timeout(1000)  # more than twice the longest wait between two checks
    assert asked == []

    # The page told the user, and told the server so: the next top-up is not held back to say it again.
    for _ in range(50):
        if TopupAttempt.objects.get().outcome_shown:
            break
        page.wait_for_timeout(50)
    assert TopupAttempt.objects.get().outcome_shown
    menu.get_by_role("button", name="$10").click()
    expect(menu.get_by_role("status")).to_have_text("Added $10")
    assert [c["amountCents"] for c in slow.state.snapshot()["charges"]] == [2500, 1000]


def test_after_a_reload_the_same_amount_reuses_the_same_key(new_page, live_server, slow):
    page = page_of(new_page, live_server)
    open_menu(page).get_by_role("button", name="$25").click()
    expect(page.get_by_role("alert").first).to_contain_text(RETRY_SAFE)
    stored = json.loads(page.evaluate(STORED))
    assert stored["cents"] == 2500

    page.reload()
    slow.state.configure(delay=0)
    menu = open_menu(page)
    expect(menu.get_by_role("listitem").first).to_contain_text("Checking…")
    menu.get_by_role("button", name="$25").click()
    expect(menu.get_by_role("status")).to_have_text("Added $25")
    expect(menu.get_by_role("listitem").first).to_contain_text("Succeeded")
    attempt = TopupAttempt.objects.get()  # the retry settled the first attempt: no second row
    assert attempt.idempotency_key == stored["key"]
    assert (attempt.status, attempt.settled_by) == (Status.SUCCEEDED, SettledBy.RETRY)
    assert [c["amountCents"] for c in slow.state.snapshot()["charges"]] == [2500]
    assert page.evaluate(STORED) is None
    expect(header_balance(page)).to_have_text("$35.00")


def test_another_tab_is_told_the_earlier_top_up_went_through(new_page, live_server, slow):
    first = page_of(new_page, live_server)
    first_menu = open_menu(first)
    first_menu.get_by_role("button", name="$25").click()
    expect(first_menu.get_by_role("alert")).to_contain_text(RETRY_SAFE)

    slow.state.configure(delay=0)
    other = page_of(new_page, live_server)  # a new context: the first tab's key is not here
    assert json.loads(other.evaluate(STORED))["key"] is None  # it watches the first tab's attempt
    listen_for_top_ups(other)
    menu = open_menu(other)
    expect(menu.get_by_role("status")).to_have_text("Your $25 top-up is still being processed.")
    menu.get_by_role("button", name="$25").click()
    expect(menu.get_by_role("status")).to_have_text(
        "Your earlier $25 top-up went through, so nothing more was charged."
    )
    expect(menu.get_by_role("alert")).to_be_empty()
    expect(header_balance(other)).to_have_text("$35.00")
    assert other.evaluate("toppedUp.map(d => d.amountCents)") == [2500]
    assert TopupAttempt.objects.count() == 1
    assert [c["amountCents"] for c in slow.state.snapshot()["charges"]] == [2500]
    # The first tab, still watching its attempt, learns it too.
    expect(first_menu.get_by_role("status")).to_have_text("Added $25")
    expect(first_menu.get_by_role("alert")).to_be_empty()


def test_a_new_amount_waits_for_the_earlier_unknown_one_and_is_told_when_it_settles(new_page, live_server, slow):
    page = page_of(new_page, live_server)
    menu = open_menu(page)
    menu.get_by_role("button", name="$25").click()
    expect(menu.get_by_role("alert")).to_contain_text(TIMED_OUT)
    menu.get_by_role("button", name="$10").click()  # the earlier one is re-sent first: still too late
    expect(menu.get_by_role("alert")).to_contain_text("We still do not know whether your earlier $25 top-up")
    expect(menu.get_by_role("alert")).to_contain_text(RETRY_SAFE)
    assert TopupAttempt.objects.count() == 1

    assert settle_now(slow) == [Status.SUCCEEDED]
    expect(menu.get_by_role("status")).to_have_text("Added $25")
    expect(menu.get_by_role("alert")).to_be_empty()
    expect(header_balance(page)).to_have_text("$35.00")
    assert [c["amountCents"] for c in slow.state.snapshot()["charges"]] == [2500]


def test_a_settled_decline_is_shown_as_an_alert_and_frees_the_key(new_page, live_server, slow):
    slow.state.configure(mode="decline")  # declined, and the answer comes too late
    page = page_of(new_page, live_server)
    menu = open_menu(page)
    menu.get_by_role("button", name="$25").click()
    expect(menu.get_by_role("alert")).to_contain_text(RETRY_SAFE)

    assert settle_now(slow) == [Status.DECLINED]
    expect(menu.get_by_role("alert")).to_contain_text("Your card was declined (sandbox).")
    expect(menu.get_by_role("listitem").first).to_contain_text("Declined")
    expect(menu.get_by_role("status")).to_be_empty()
    assert page.evaluate(STORED) is None
    slow.state.configure(mode="ok")
    menu.get_by_role("button", name="$25").click()  # a definite answer: a new top-up, a new key
    expect(menu.get_by_role("status")).to_have_text("Added $25")
    assert len(set(TopupAttempt.objects.values_list("idempotency_key", flat=True))) == 2
    assert [c["amountCents"] for c in slow.state.snapshot()["charges"]] == [2500]


def test_retry_is_said_to_be_safe_only_when_the_outcome_is_unknown(new_page, live_server, sandbox, settings):
    settings.CREDITS = {**settings.CREDITS, "TIMEOUT": 0.5, "PENDING_GRACE_SECONDS": 0}
    sandbox.state.configure(mode="unauthorized")
    page = page_of(new_page, live_server)
    menu = open_menu(page)
    alert = menu.get_by_role("alert")
    menu.get_by_role("button", name="$25").click()
    expect(alert).to_contain_text("Top-ups are misconfigured on this site")
    expect(alert).not_to_contain_text("cannot be charged twice")
    assert page.evaluate(STORED) is None

    sandbox.state.configure(mode="ok", delay=1.5)
    menu.get_by_role("button", name="$25").click()
    expect(alert).to_contain_text(TIMED_OUT)
    expect(alert).to_contain_text(RETRY_SAFE)
    assert page.evaluate(STORED) is not None


def test_the_inline_widget_in_the_chat_shows_continue_once_settled(new_page, live_server, slow, settings):
    settings.CHAT = {"AGENT": "chat.agents.DemoAgent", "SPEND_CENTS": 25}
    slow.state.configure(credits=0, delay=0)
    page = page_of(new_page, live_server)
    page.get_by_label("Message", exact=True).fill("Anyone there?")
    page.get_by_role("button", name="Send").click()
    stopped = page.locator(".chat-message--exhausted")
    expect(stopped).to_contain_text("No credits available")
    widget = stopped.get_by_role("region", name="Credits exhausted")
    continue_button = stopped.get_by_role("button", name="Continue")
    expect(continue_button).to_be_hidden()

    slow.state.configure(delay=1.5)
    widget.get_by_role("button", name="$25").click()
    expect(widget.get_by_role("alert")).to_contain_text(RETRY_SAFE)
    expect(continue_button).to_be_hidden()
    assert TopupAttempt.objects.get().source == Source.INLINE

    assert settle_now(slow) == [Status.SUCCEEDED]
    expect(widget.get_by_role("status")).to_have_text("Added $25")
    expect(continue_button).to_be_visible()
    expect(header_balance(page)).to_have_text("$25.00")
    assert [c["amountCents"] for c in slow.state.snapshot()["charges"]] == [2500]


def test_a_tab_loaded_meanwhile_watches_the_top_up_and_polls_no_more_once_it_settled(new_page, live_server, slow):
    first = page_of(new_page, live_server)
    open_menu(first).get_by_role("button", name="$25").click()
    expect(first.get_by_role("alert").first).to_contain_text(RETRY_SAFE)

    other = new_page()  # this tab, loaded while the top-up is unsettled, says so and watches it
    other.add_init_script(FAST_POLLING)
    asked: list[str] = []
    other.on("request", lambda request: asked.append(request.url) if "recent-topups" in request.url else None)
    other.goto(live_server.url + CHAT)
    menu = open_menu(other)
    expect(menu.get_by_role("status")).to_have_text("Your $25 top-up is still being processed.")
    expect(menu.get_by_role("listitem").first).to_contain_text("Checking…")
    other.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    seen = len(asked)
    other.wait_for_timeout(1000)  # watching it: the closed menu's page still checks
    assert len(asked) > seen

    assert settle_now(slow) == [Status.SUCCEEDED]
    menu = open_menu(other)
    expect(menu.get_by_role("listitem").first).to_contain_text("Succeeded")
    expect(menu.get_by_role("status")).to_have_text("Added $25")
    seen = len(asked)
    other.wait_for_timeout(1000)  # nothing unsettled: the open menu does not poll either
    assert len(asked) == seen


def test_a_refusing_session_storage_only_loses_the_second_line_of_defence(new_page, live_server, slow):
    page: Page = new_page()
    page.add_init_script(
        FAST_POLLING
        + "Object.defineProperty(window, 'sessionStorage', {get() { throw new DOMException('no', 'SecurityError'); }});"
    )
    page.goto(live_server.url + CHAT)
    menu = open_menu(page)
    menu.get_by_role("button", name="$25").click()
    expect(menu.get_by_role("alert")).to_contain_text(RETRY_SAFE)
    assert settle_now(slow) == [Status.SUCCEEDED]
    expect(menu.get_by_role("status")).to_have_text("Added $25")  # and no JavaScript error (see new_page)
