"""The credits UI in a real browser: header menu, balance, inline widget, and the form without JavaScript."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from credits.models import Source, Status, TopupAttempt
from tests.browser.pages import header_balance, open_menu

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHAT = "/ui/"


def test_header_menu_tops_up_10_and_shows_the_new_balance(new_page, live_server, sandbox, screenshots):
    page = new_page(scale=2)
    page.goto(live_server.url + CHAT)
    expect(header_balance(page)).to_have_text("$10.00")
    menu = open_menu(page)
    expect(menu.get_by_role("button", name="$5", exact=True)).to_be_focused()
    expect(menu.get_by_role("list")).to_contain_text("No top-ups yet.")
    menu.get_by_role("button", name="$10").click()
    expect(menu.get_by_role("status")).to_have_text("Added $10")
    expect(header_balance(page)).to_have_text("$20.00")
    expect(menu.get_by_role("listitem").first).to_contain_text("$10")
    expect(menu.get_by_role("listitem").first).to_contain_text("Succeeded")
    assert [c["amountCents"] for c in sandbox.state.snapshot()["charges"]] == [1000]
    assert TopupAttempt.objects.get().source == Source.HEADER
    box = page.locator(".credits-panel").bounding_box()
    assert box is not None
    page.screenshot(
        path=str(screenshots / "header-menu.png"),
        clip={"x": 1100 - 560, "y": 0, "width": 560, "height": box["y"] + box["height"] + 16},
    )


# Every answer of the balance is held a second before the page sees it, so the next refresh
# is asked for while one is still on its way; ``__balanceAsks`` counts the questions.
SLOW_BALANCE = """() => {
  window.__balanceAsks = 0;
  const realFetch = window.fetch;
  window.fetch = (url, init) => {
    if (!String(url).includes("/api/credits")) return realFetch(url, init);
    window.__balanceAsks += 1;
    return realFetch(url, init).then((answer) => new Promise((done) => setTimeout(() => done(answer), 1000)));
  };
}"""


def test_a_refresh_asked_for_while_one_is_on_its_way_is_not_lost(new_page, live_server, sandbox, settings):
    settings.CREDITS = {**settings.CREDITS, "BALANCE_CACHE_SECONDS": 0}
    page = new_page()
    page.goto(live_server.url + CHAT)
    expect(header_balance(page)).to_have_text("$10.00")
    page.evaluate(SLOW_BALANCE)
    page.evaluate("document.dispatchEvent(new CustomEvent('credits:refresh'))")  # reads $10.00, slowly
    page.wait_for_function("() => window.__balanceAsks === 1")
    sandbox.state.configure(spend=3)  # the agent spends while that answer is on its way
    page.evaluate("document.dispatchEvent(new CustomEvent('credits:refresh'))")
    expect(header_balance(page)).to_have_text("$7.00")
    assert page.evaluate("window.__balanceAsks") == 2


def test_escape_and_a_click_outside_close_the_menu_and_return_focus(new_page, live_server, sandbox):
    page = new_page()
    page.goto(live_server.url + CHAT)
    toggle = page.get_by_role("button", name="+ credits")
    menu = open_menu(page)
    menu.get_by_label("Custom amount").focus()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()
    open_menu(page)
    page.locator("main").click(position={"x": 5, "y": 5})
    expect(menu).to_be_hidden()
    expect(toggle).to_be_focused()


def test_custom_amount_7_works_and_3_never_reaches_the_landing(new_page, live_server, sandbox):
    page = new_page()
    page.goto(live_server.url + CHAT)
    menu = open_menu(page)
    amount = menu.get_by_role("spinbutton", name="Custom amount")
    amount.fill("3")
    menu.get_by_role("button", name="Add", exact=True).click()
    expect(menu.get_by_role("alert")).to_have_text("A top-up must be from $5 to $1,000.")
    expect(amount).to_have_attribute("aria-invalid", "true")
    amount.fill("7.5")
    amount.press("Enter")
    expect(menu.get_by_role("alert")).to_have_text("Enter a whole number of dollars, such as 10.")
    assert sandbox.state.snapshot()["topupRequests"] == 0
    amount.fill("7")
    amount.press("Enter")
    expect(menu.get_by_role("status")).to_have_text("Added $7")
    expect(menu.get_by_role("alert")).to_be_empty()
    expect(header_balance(page)).to_have_text("$17.00")
    assert [c["amountCents"] for c in sandbox.state.snapshot()["charges"]] == [700]


def test_a_declined_card_shows_the_landings_sentence(new_page, live_server, sandbox):
    sandbox.state.configure(mode="decline")
    page = new_page()
    page.goto(live_server.url + CHAT)
    menu = open_menu(page)
    menu.get_by_role("button", name="$25").click()
    expect(menu.get_by_role("alert")).to_contain_text("Your card was declined (sandbox).")
    expect(menu.get_by_role("alert").get_by_role("link", name="Open the billing page")).to_have_attribute(
        "href", sandbox.url + "/billing"
    )
    expect(menu.get_by_role("listitem").first).to_contain_text("Declined")
    expect(header_balance(page)).to_have_text("$10.00")
    # A decline is a definite answer: the next click is a new top-up with a new key.
    sandbox.state.configure(mode="ok")
    menu.get_by_role("button", name="$25").click()
    expect(menu.get_by_role("status")).to_have_text("Added $25")
    keys = {a.idempotency_key for a in TopupAttempt.objects.all()}
    assert len(keys) == 2


def test_a_double_click_charges_once(new_page, live_server, sandbox):
    sandbox.state.configure(delay=0.4)
    page = new_page()
    page.goto(live_server.url + CHAT)
    menu = open_menu(page)
    menu.get_by_role("button", name="$10").dblclick()
    expect(menu.locator("form").first).to_have_attribute("aria-busy", "true")
    expect(menu.get_by_role("button", name="$50")).to_have_attribute("aria-disabled", "true")
    expect(menu.get_by_role("status")).to_have_text("Added $10")
    expect(menu.get_by_role("button", name="$50")).not_to_have_attribute("aria-disabled", "true")
    assert len(sandbox.state.snapshot()["charges"]) == 1
    assert TopupAttempt.objects.count() == 1


def test_an_unknown_outcome_keeps_the_key_so_the_retry_charges_once(new_page, live_server, sandbox, settings):
    settings.CREDITS = {**settings.CREDITS, "TIMEOUT": 0.5}
    sandbox.state.configure(delay=1.0)  # the landing charges, then answers too late
    page = new_page()
    page.goto(live_server.url + CHAT)
    menu = open_menu(page)
    menu.get_by_role("button", name="$10").click()
    expect(menu.get_by_role("alert")).to_contain_text("we do not know yet whether the credits were added")
    expect(menu.get_by_role("alert")).to_contain_text("cannot be charged twice")
    expect(menu.get_by_role("listitem").first).to_contain_text("Checking…")
    sandbox.state.configure(delay=0)
    menu.get_by_role("button", name="$10").click()
    expect(menu.get_by_role("status")).to_have_text("Added $10")
    assert len(sandbox.state.snapshot()["charges"]) == 1
    # The retry (same key) settled the first attempt: one row, first unknown, now succeeded.
    attempt = TopupAttempt.objects.get()
    assert (attempt.first_status, attempt.status, attempt.settled_by) == (Status.UNKNOWN, Status.SUCCEEDED, "retry")


def test_the_inline_widget_tops_up_inside_a_message(new_page, live_server, sandbox, hostsite, screenshots):
    sandbox.state.configure(credits=0)
    page = new_page(width=760, height=900, scale=2)
    page.goto(live_server.url + "/")
    widgets = page.get_by_role("region", name="Credits exhausted")
    expect(widgets).to_have_count(2)
    ids = page.evaluate("[...document.querySelectorAll('[id]')].map(e => e.id)")
    assert len(ids) == len(set(ids))
    assert page.locator("[data-credits=inline]").first.get_attribute("data-topup-url") == "/billing/api/topup-credits"
    expect(widgets.last.locator("[data-credits-amount]")).to_have_text("$0.00")
    expect(widgets.last.locator("[data-credits-note]")).to_have_text("Low balance")
    page.evaluate("document.addEventListener('credits:topped-up', e => { window.toppedUp = e.detail; })")
    second = widgets.last
    second.get_by_role("button", name="$25").click()
    expect(second.get_by_role("status")).to_have_text("Added $25")
    expect(widgets.first.get_by_role("status")).to_be_empty()
    assert page.evaluate("window.toppedUp.amountCents") == 2500
    for balance in page.locator("[data-credits-amount]").all():
        expect(balance).to_have_text("$25.00")
    expect(widgets.first.locator("[data-credits-note]")).to_be_empty()
    first = widgets.first
    first.get_by_label("Custom amount").fill("5")
    first.get_by_role("button", name="Add", exact=True).click()
    expect(first.get_by_role("status")).to_have_text("Added $5")
    expect(header_balance(page)).to_have_text("$30.00")
    assert [c["amountCents"] for c in sandbox.state.snapshot()["charges"]] == [2500, 500]
    assert set(TopupAttempt.objects.values_list("source", flat=True)) == {Source.INLINE}
    page.locator("[data-message='1']").screenshot(path=str(screenshots / "inline-widget.png"))


def test_without_javascript_the_form_posts_charges_once_and_comes_back(new_page, live_server, sandbox, hostsite):
    page = new_page(javascript=False)
    page.goto(live_server.url + "/")
    expect(page.get_by_role("button", name="+ credits")).to_be_hidden()
    page.get_by_role("region", name="Credits exhausted").last.get_by_role("button", name="$10").click()
    expect(page.get_by_text("Added $10")).to_be_visible()
    assert page.url == live_server.url + "/"
    header = page.get_by_role("banner")
    header.get_by_label("Custom amount").fill("3")
    header.get_by_role("button", name="Add", exact=True).click()  # the browser itself refuses it: min is 5
    assert header.get_by_label("Custom amount").evaluate("e => e.validity.rangeUnderflow")
    assert sandbox.state.snapshot()["topupRequests"] == 1
    header.get_by_label("Custom amount").fill("12")
    header.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("Added $12")).to_be_visible()
    assert [c["amountCents"] for c in sandbox.state.snapshot()["charges"]] == [1000, 1200]
    assert set(TopupAttempt.objects.values_list("source", flat=True)) == {Source.FORM}


def test_the_panel_fits_a_360_px_phone_in_dark_mode(new_page, live_server, sandbox, screenshots):
    page = new_page(width=360, height=740, dark=True)
    page.goto(live_server.url + CHAT)
    expect(header_balance(page)).to_have_text("$10.00")
    menu = open_menu(page)
    menu.get_by_role("button", name="$50").click()
    expect(header_balance(page)).to_have_text("$60.00")  # the header grows; the panel stays on screen
    box = menu.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360, box
    background = menu.evaluate("e => getComputedStyle(e).backgroundColor")
    assert background != "rgb(255, 255, 255)"
    page.screenshot(path=str(screenshots / "phone-dark.png"))


def test_the_balance_unavailable_negative_low_and_refreshed_on_request(new_page, live_server, sandbox, settings):
    settings.CREDITS = {**settings.CREDITS, "BALANCE_CACHE_SECONDS": 0}
    sandbox.state.configure(mode="ok", credits=10, spend=12)
    page = new_page()
    page.goto(live_server.url + CHAT)
    expect(header_balance(page)).to_have_text("-$2.00")
    expect(page.locator(".credits--header [data-credits-note]")).to_have_text("Low balance")
    sandbox.state.configure(spend=0)
    page.evaluate("document.dispatchEvent(new CustomEvent('credits:refresh'))")
    expect(header_balance(page)).to_have_text("$10.00")
    expect(page.locator(".credits--header [data-credits-note]")).to_be_empty()
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": "http://127.0.0.1:9"}
    page.evaluate("document.dispatchEvent(new CustomEvent('credits:refresh'))")
    expect(header_balance(page)).to_have_text("—")
    expect(page.locator(".credits--header [data-credits-note]")).to_have_text("unavailable")
    expect(page.locator(".credits--header [data-credits-balance]")).to_have_attribute(
        "title", re.compile("cannot be read")
    )
