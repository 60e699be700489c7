"""The whole loop in a real browser against the sandbox landing over HTTP: chat until
"No credits available", top up inside that message, carry on."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from chat.models import Message, Role
from tests.browser.pages import assistant, header_balance, send

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(demo: Any) -> Any:
    """The demo agent, from a sandbox holding 25 cents (one answer)."""
    demo.state.configure(credits=0.25)
    return demo


def test_chat_until_no_credits_top_up_inline_and_carry_on(new_page, live_server, demo, screenshots):
    page = new_page(scale=2)
    page.goto(live_server.url + "/ui/")
    expect(page.locator(".credits-sandbox")).to_have_text("sandbox")
    expect(header_balance(page)).to_have_text("$0.25")

    send(page, "Hello! Can you check the deploy logs?")
    expect(assistant(page)).to_have_count(1)
    expect(assistant(page).last).to_contain_text("I am the demo agent")
    expect(page.get_by_label("Message", exact=True)).to_have_value("")
    expect(header_balance(page)).to_have_text("$0.00")  # the page asked the header to refresh
    assert "/ui/c/" in page.url  # the new conversation has its address, without a reload

    send(page, "And summarise yesterday's incidents, please.")
    expect(assistant(page)).to_have_count(2)
    stopped = page.locator("#" + str(assistant(page).last.get_attribute("id")))
    expect(stopped).to_contain_text("No credits available")
    widget = stopped.get_by_role("region", name="Credits exhausted")
    expect(widget).to_be_visible()
    expect(page.get_by_role("region", name="Credits exhausted")).to_have_count(1)
    continue_button = stopped.get_by_role("button", name="Continue")
    expect(continue_button).to_be_hidden()  # it waits for a top-up

    widget.get_by_role("button", name="$25").click()
    expect(widget.get_by_role("status")).to_have_text("Added $25")
    expect(continue_button).to_be_visible()
    expect(header_balance(page)).to_have_text("$25.00")
    assert [c["amountCents"] for c in demo.state.snapshot()["charges"]] == [2500]
    # The page keeps its frame and only the messages scroll: a window taller by what they hide holds them all
    # (once the warning above the message box, up while the credits were out, has gone).
    expect(page.locator("[data-credits-warning]")).to_be_hidden()
    height = page.evaluate(
        "(log => innerHeight + log.scrollHeight - log.clientHeight)(document.querySelector('[data-chat-log]'))"
    )
    page.set_viewport_size({"width": 1100, "height": height})
    page.screenshot(path=str(screenshots / "chat-loop.png"))
    page.set_viewport_size({"width": 1100, "height": 760})

    continue_button.click()
    expect(assistant(page)).to_have_count(3)
    expect(assistant(page).last).to_contain_text("summarise yesterday")
    expect(stopped).to_contain_text("This task was run again below.")
    expect(page.get_by_role("region", name="Credits exhausted")).to_have_count(0)
    expect(header_balance(page)).to_have_text("$24.75")  # the balance in the header went down

    send(page, "Thanks!")
    expect(assistant(page)).to_have_count(4)
    expect(header_balance(page)).to_have_text("$24.50")
    assert demo.state.snapshot()["spend"] == 0.75

    page.reload()  # what the fetches showed is what the server stored
    expect(assistant(page)).to_have_count(4)
    expect(page.get_by_role("region", name="Credits exhausted")).to_have_count(0)
    assert Message.objects.filter(role=Role.ASSISTANT, out_of_credits=True).count() == 1


def test_without_javascript_the_loop_posts_and_redirects(new_page, live_server, demo):
    page = new_page(javascript=False)
    demo.state.configure(credits=0)
    page.goto(live_server.url + "/ui/")
    send(page, "Anyone there?")
    stopped = page.locator(".chat-message--exhausted")
    widget = stopped.get_by_role("region", name="Credits exhausted")
    expect(widget).to_be_visible()
    expect(stopped).to_contain_text("No credits available")

    widget.get_by_role("button", name="$10").click()  # the widget's own form, back to this page
    assert demo.state.snapshot()["remaining"] == 10.0
    page.locator(".chat-message--exhausted").get_by_role("button", name="Continue").click()
    expect(assistant(page).last).to_contain_text("Anyone there?")
    expect(assistant(page).last).not_to_contain_text("No credits available")
    assert demo.state.snapshot()["remaining"] == 9.75


def test_the_chat_fits_a_phone_and_wraps_long_messages(new_page, live_server, demo):
    demo.state.configure(credits=5)
    page = new_page(width=360, height=740, dark=True)
    page.goto(live_server.url + "/ui/")
    send(page, "x" * 300 + " " + "https://example.com/" + "a" * 200)
    expect(assistant(page)).to_have_count(1)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    box = page.get_by_role("button", name="Send").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 360
