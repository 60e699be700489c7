"""With JavaScript turned off: a one-line header whose "+ credits" leads to the credits page,
that page's balance and top-up, and a chat that offers Continue only once credits were added.
And, with or without JavaScript, headings in an order axe-core's heading-order rule accepts."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from chat.models import Conversation, Message, Role
from credits.models import Source, Status, TopupAttempt
from tests.browser.pages import open_menu, send
from tests.conftest import make_api

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHAT = "/ui/"
PAGE = "/ui/credits/"


@pytest.fixture
def demo(demo: Any) -> Any:
    """The demo agent, from a sandbox holding nothing."""
    demo.state.configure(credits=0)
    return demo


def header_height(page: Page) -> float:
    box = page.get_by_role("banner").bounding_box()
    assert box is not None
    return float(box["height"])


def assistant(page: Page) -> Any:
    return page.locator(".chat-message--assistant")


def heading_order_findings(page: Page) -> list[Any]:
    """axe-core's heading-order rule alone: the targets it flags (none is the aim)."""
    result = Axe().run(page, options={"runOnly": {"type": "rule", "values": ["heading-order"]}})
    return [node["target"] for violation in result.response["violations"] for node in violation["nodes"]]


def top_up_elsewhere(user: Any, cents: int) -> int:
    """A top-up through the JSON API by ``user``, in a thread of its own (this one runs
    Playwright's event loop, where Django's test client cannot call an async view)."""
    statuses: list[int] = []
    thread = threading.Thread(target=lambda: statuses.append(make_api(user).topup({"amountCents": cents}).status_code))
    thread.start()
    thread.join(30)
    return statuses[0]


def out_of_credits(user: Any) -> Conversation:
    conversation = Conversation.objects.create(user=user, title="Deploy logs")
    asked = Message.objects.create(conversation=conversation, role=Role.USER, text="Check the deploy logs, please.")
    Message.objects.create(
        conversation=conversation, role=Role.ASSISTANT, text="No credits available.", prompt=asked, out_of_credits=True
    )
    return conversation


# --- the header ----------------------------------------------------------------------------------


def test_the_header_is_one_line_with_a_link_to_the_credits_page(new_page, live_server, sandbox, user):
    out_of_credits(user)  # the chat page with the inline widget in it, too
    page = new_page(javascript=False)
    page.goto(live_server.url + CHAT)
    header = page.get_by_role("banner")
    assert header_height(page) < 80
    expect(header.get_by_role("button", name="+ credits")).to_be_hidden()
    expect(header.get_by_role("group", name="Add credits")).to_be_hidden()
    expect(header.get_by_label("Custom amount")).to_be_hidden()
    expect(header.get_by_role("button", name="$10")).to_be_hidden()
    link = header.get_by_role("link", name="+ credits")
    expect(link).to_be_visible()
    link.click()
    expect(page).to_have_url(live_server.url + PAGE)
    expect(page.get_by_role("heading", level=1)).to_have_text("Credits")
    assert header_height(page) < 80
    expect(page.get_by_role("banner").get_by_role("link", name="+ credits")).to_have_attribute("aria-current", "page")
    # The page read the balance, so now the header has it from the cache, also without JavaScript.
    page.goto(live_server.url + CHAT)
    expect(header.locator("[data-credits-amount]")).to_have_text("$10.00")
    expect(header.locator("[data-credits-amount]")).to_be_visible()
    assert header_height(page) < 80


def test_with_javascript_the_header_keeps_its_menu_and_no_link(new_page, live_server, sandbox):
    page = new_page()
    page.goto(live_server.url + CHAT)
    header = page.get_by_role("banner")
    expect(header.locator("[data-credits-amount]")).to_have_text("$10.00")
    expect(header.get_by_role("link", name="+ credits")).to_have_count(0)
    expect(open_menu(page).get_by_role("button", name="$10")).to_be_visible()


# --- the credits page ----------------------------------------------------------------------------


def test_the_credits_page_shows_the_balance_and_a_preset_charges_once(new_page, live_server, sandbox):
    page = new_page(javascript=False)
    page.goto(live_server.url + PAGE)
    main = page.get_by_role("main")
    balance = main.get_by_role("region", name="Balance")
    amount = balance.locator(".credits-amount")
    expect(amount).to_have_text("$10.00")
    expect(amount).to_be_visible()
    expect(main.get_by_role("region", name="Your recent top-ups")).to_contain_text("No top-ups yet.")
    main.get_by_role("region", name="Add credits").get_by_role("button", name="$10").click()
    expect(page).to_have_url(live_server.url + PAGE)
    expect(page.get_by_text("Added $10")).to_be_visible()
    expect(amount).to_have_text("$20.00")
    expect(amount).to_be_visible()
    recent = main.get_by_role("region", name="Your recent top-ups").get_by_role("listitem")
    expect(recent).to_have_count(1)
    expect(recent.first).to_contain_text("$10")
    expect(recent.first).to_contain_text("Succeeded")
    page.reload()  # a GET: nothing is sent again
    expect(amount).to_have_text("$20.00")
    assert [c["amountCents"] for c in sandbox.state.snapshot()["charges"]] == [1000]
    attempt = TopupAttempt.objects.get()
    assert (attempt.source, attempt.status) == (Source.FORM, Status.SUCCEEDED)


def test_the_credits_page_says_when_the_balance_cannot_be_read(new_page, live_server, sandbox, settings):
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": "http://127.0.0.1:9"}  # nothing listens there
    page = new_page(javascript=False)
    page.goto(live_server.url + PAGE)
    balance = page.get_by_role("main").get_by_role("region", name="Balance")
    problem = balance.locator(".credits-problem")
    expect(problem).to_contain_text("The balance cannot be read from the billing service right now.")
    expect(problem).to_be_visible()
    expect(balance).not_to_contain_text("$0.00")
    expect(page.get_by_role("main").get_by_role("button", name="$25")).to_be_visible()


# --- Continue in the chat ------------------------------------------------------------------------


def test_continue_is_offered_only_after_a_top_up(new_page, live_server, demo):
    page = new_page(javascript=False)
    page.goto(live_server.url + CHAT)
    send(page, "Anyone there?")
    stopped = page.locator(".chat-message--exhausted")
    expect(stopped).to_contain_text("No credits available")
    widget = stopped.get_by_role("region", name="Credits exhausted")
    expect(widget).to_be_visible()
    expect(stopped.get_by_role("button", name="Continue")).to_be_hidden()
    add_first = stopped.locator(".chat-add-first")  # (text inside <noscript>: matched on the element itself)
    expect(add_first).to_be_visible()
    expect(add_first).to_have_text("Add credits first: Continue is offered here once they have been added.")
    page.reload()  # still nothing added: still no Continue
    expect(stopped.get_by_role("button", name="Continue")).to_be_hidden()
    assert header_height(page) < 80

    widget.get_by_role("button", name="$10").click()
    expect(page.get_by_text("Added $10")).to_be_visible()
    continue_button = stopped.get_by_role("button", name="Continue")
    expect(continue_button).to_be_visible()
    expect(add_first).to_have_count(0)
    continue_button.click()
    expect(assistant(page)).to_have_count(2)
    expect(assistant(page).last).to_contain_text("Anyone there?")
    expect(assistant(page).last).not_to_contain_text("No credits available")
    assert [c["amountCents"] for c in demo.state.snapshot()["charges"]] == [1000]
    assert demo.state.snapshot()["remaining"] == 9.75


def test_a_top_up_by_someone_else_on_the_team_offers_continue(new_page, live_server, demo, other_user):
    page = new_page(javascript=False)
    page.goto(live_server.url + CHAT)
    send(page, "Summarise the incident, please.")
    stopped = page.locator(".chat-message--exhausted")
    expect(stopped.get_by_role("button", name="Continue")).to_be_hidden()
    assert top_up_elsewhere(other_user, 500) == 200  # bob, from another browser
    page.reload()
    stopped.get_by_role("button", name="Continue").click()
    expect(assistant(page).last).to_contain_text("Summarise the incident")
    expect(assistant(page).last).not_to_contain_text("No credits available")


# --- heading order (axe-core), with JavaScript: axe runs in the page ---------------------------------


def test_headings_are_in_order_on_the_chat_with_the_widget_and_the_menu_open(new_page, live_server, sandbox, user):
    conversation = out_of_credits(user)
    page = new_page()
    page.goto(live_server.url + conversation.get_absolute_url())
    expect(page.get_by_role("heading", name="Credits exhausted", level=2)).to_be_visible()
    assert heading_order_findings(page) == []
    expect(open_menu(page)).to_be_visible()
    assert heading_order_findings(page) == []


def test_headings_are_in_order_on_the_credits_page_with_the_menu_open(new_page, live_server, sandbox):
    page = new_page()
    page.goto(live_server.url + PAGE)
    expect(page.get_by_role("heading", level=1)).to_have_text("Credits")
    expect(page.get_by_role("heading", level=2)).to_have_count(
        5
    )  # Balance, Spend, Add credits, Auto top-up, Your recent top-ups
    assert heading_order_findings(page) == []
    serious = [
        (violation["id"], node["target"])
        for violation in Axe().run(page).response["violations"]
        for node in violation["nodes"]
        if (node.get("impact") or violation["impact"]) in ("serious", "critical")
    ]
    assert serious == []  # the page is new: none of axe's serious findings either
    open_menu(page)
    assert heading_order_findings(page) == []
