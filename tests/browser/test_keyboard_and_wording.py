"""What a person expects from the keyboard and the words: Escape and a click outside close the
header panel wherever focus is, Continue leaves focus somewhere useful, and every failure of
the landing says what happened and what to do next (and says a retry is safe only when it is)."""

from __future__ import annotations

import socket

import httpx
import pytest
from playwright.sync_api import Page, expect

from chat.models import Message
from credits.testing import override_transport
from tests.browser.pages import assistant, open_menu

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHAT = "/ui/"
FAST_POLLING = "window.reefCredits = {pollMs: 100, pollMaxMs: 400};"
RETRY_SAFE = "Pressing the same amount again is safe: it cannot be charged twice."
ACTIVE = "(() => { const e = document.activeElement; return e && (e.id || e.tagName); })()"


def panel_has_focus(page: Page) -> bool:
    return page.evaluate("document.querySelector('.credits--header .credits-panel').contains(document.activeElement)")


# --- 1. the header panel ---------------------------------------------------------------------


def test_escape_closes_the_panel_after_tabbing_out_of_it_and_leaves_focus_there(new_page, live_server, sandbox):
    page = new_page()
    page.goto(live_server.url + CHAT)
    toggle = page.get_by_role("button", name="+ credits")
    menu = open_menu(page)
    for _ in range(60):  # Tab past the panel's last control
        page.keyboard.press("Tab")
        if not panel_has_focus(page):
            break
    assert not panel_has_focus(page)
    assert page.evaluate("window.outside = document.activeElement; outside !== document.body")
    expect(toggle).not_to_be_focused()
    expect(menu).to_be_visible()  # leaving by Tab alone does not close it

    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    assert page.evaluate("document.activeElement === window.outside")  # focus stays where the user was


def test_escape_closes_the_panel_with_focus_in_the_chat(new_page, live_server, sandbox):
    page = new_page()
    page.goto(live_server.url + CHAT)
    menu = open_menu(page)
    message = page.get_by_label("Message", exact=True)
    message.focus()
    expect(menu).to_be_visible()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(page.get_by_role("button", name="+ credits")).to_have_attribute("aria-expanded", "false")
    expect(message).to_be_focused()


def test_escape_on_the_toggle_closes_the_panel_and_keeps_focus_on_it(new_page, live_server, sandbox):
    page = new_page()
    page.goto(live_server.url + CHAT)
    toggle = page.get_by_role("button", name="+ credits")
    menu = open_menu(page)
    toggle.focus()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(toggle).to_be_focused()


def test_a_click_outside_the_panel_closes_it_and_a_click_inside_does_not(new_page, live_server, sandbox):
    page = new_page()
    page.goto(live_server.url + CHAT)
    toggle = page.get_by_role("button", name="+ credits")
    menu = open_menu(page)
    menu.click(position={"x": 4, "y": 4})  # the panel's own padding
    expect(menu).to_be_visible()

    message = page.get_by_label("Message", exact=True)
    message.click(position={"x": 8, "y": 8})  # its left end, clear of the panel
    expect(menu).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(message).to_be_focused()  # a click on a control keeps its focus

    open_menu(page)
    page.locator(".credits--header [data-credits-balance]").click()  # beside the toggle, outside the panel
    expect(menu).to_be_hidden()


# --- 2. focus after Continue -------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_after_continue_focus_is_on_the_new_message(new_page, live_server, demo):
    demo.state.configure(credits=0)
    page = new_page()
    page.goto(live_server.url + CHAT)
    page.get_by_label("Message", exact=True).fill("Summarise the incidents, please.")
    page.get_by_role("button", name="Send").click()
    stopped = page.locator(".chat-message--exhausted")
    expect(stopped).to_contain_text("No credits available")
    stopped.get_by_role("region", name="Credits exhausted").get_by_role("button", name="$25").click()
    stopped.get_by_role("button", name="Continue").click()
    expect(assistant(page)).to_have_count(2)
    new = assistant(page).last
    expect(new).to_contain_text("Summarise the incidents")
    expect(new).to_be_focused()
    assert page.evaluate("document.activeElement !== document.body")
    assert new.get_attribute("tabindex") == "-1"
    assert page.evaluate(ACTIVE) == Message.objects.latest("pk").dom_id


def test_try_again_focuses_the_new_message_and_an_answer_without_one_the_composer(
    new_page, live_server, demo, settings
):
    landing_url = settings.CREDITS["LANDING_URL"]
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": f"http://127.0.0.1:{_closed_port()}"}
    first = new_page()
    first.goto(live_server.url + CHAT)
    first.get_by_label("Message", exact=True).fill("Check the deploy logs.")
    first.get_by_role("button", name="Send").click()
    expect(assistant(first).last).to_contain_text("The agent failed")
    other = new_page()  # the same conversation in another tab
    other.goto(first.url)
    expect(other.get_by_role("button", name="Try again")).to_be_visible()

    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": landing_url}
    first.get_by_role("button", name="Try again").click()
    expect(assistant(first)).to_have_count(2)
    expect(assistant(first).last).to_be_focused()

    # The other tab's Try again: the task was run again already, so no new message to go to.
    other.get_by_role("button", name="Try again").click()
    expect(other.get_by_role("alert").filter(has_text="already continued")).to_be_visible()
    expect(other.get_by_label("Message", exact=True)).to_be_focused()


# --- 3. what each failure says, and the next step ------------------------------------------------

MISCONFIGURED = (
    "Top-ups are misconfigured on this site: the billing service refused the site's credentials, so nothing "
    "was charged. An administrator of this site needs to fix it; trying again will not help until then."
)
NOT_CONFIGURED = (
    "Top-ups are not set up on this site yet, so nothing was charged. An administrator of this site needs to "
    "set them up; trying again will not help until then."
)
HAD_A_PROBLEM = "The billing service had a problem and did not add the credits. Please try again in a moment."
NO_USABLE_ANSWER = (
    "The billing service gave no usable answer, so we do not know yet whether the credits were added. " + RETRY_SAFE
)
BILLING, RETRY, NONE = "billing", "retry", None

# sandbox mode (or a site setting) → the widget's final sentence, and the next step it offers
FAILURES = [
    ("decline", "Your card was declined (sandbox).", BILLING),  # to use another card
    ("no_card", "No card is saved for this team.", BILLING),
    ("requires_action", "Your bank asks you to confirm this payment.", BILLING),
    ("rejected", "This amount cannot be charged.", NONE),
    ("unauthorized", MISCONFIGURED, NONE),
    ("forbidden", MISCONFIGURED, NONE),
    (
        "rate_limited",
        "The billing service is busy with this team's charges, so nothing was charged. Try again in 30 seconds.",
        NONE,
    ),
    ("error", HAD_A_PROBLEM, NONE),  # settled at once from the recent top-ups: nothing was charged
    ("redirect", HAD_A_PROBLEM, NONE),
    ("not_json", NO_USABLE_ANSWER, RETRY),
    ("drop", NO_USABLE_ANSWER, RETRY),
    ("drop_after_charge", NO_USABLE_ANSWER, RETRY),
    (
        "slow",
        "The billing service did not answer in time, so we do not know yet whether the credits were added. "
        + RETRY_SAFE,
        RETRY,
    ),
    ("no_token", NOT_CONFIGURED, NONE),
    (
        "unreachable",
        "The billing service could not be reached, so nothing was charged. Please try again in a moment.",
        NONE,
    ),
]


@pytest.mark.parametrize(("mode", "sentence", "next_step"), FAILURES, ids=[f[0] for f in FAILURES])
def test_each_failure_says_what_happened_and_what_to_do(
    new_page, live_server, sandbox, hostsite, settings, mode, sentence, next_step
):
    if mode == "slow":
        settings.CREDITS = {**settings.CREDITS, "TIMEOUT": 0.5}
        sandbox.state.configure(delay=1.5)
    elif mode == "no_token":
        settings.CREDITS = {**settings.CREDITS, "AUTH_TOKEN": None}
    elif mode == "unreachable":
        settings.CREDITS = {**settings.CREDITS, "LANDING_URL": f"http://127.0.0.1:{_closed_port()}"}
    else:
        sandbox.state.configure(mode=mode)
    page = new_page()
    page.add_init_script(FAST_POLLING)
    page.goto(live_server.url + "/")
    widget = page.get_by_role("region", name="Credits exhausted").first
    widget.get_by_role("button", name="$25").click()
    alert = widget.get_by_role("alert")
    expect(alert).to_have_text(sentence + (" Open the billing page" if next_step == BILLING else ""))
    page.wait_for_timeout(500)  # the recent top-ups have been checked: the sentence stays
    expect(alert).to_have_text(sentence + (" Open the billing page" if next_step == BILLING else ""))
    expect(widget.get_by_role("status")).to_be_empty()
    link = alert.get_by_role("link", name="Open the billing page")
    if next_step == BILLING:
        expect(link).to_have_attribute("href", f"{sandbox.url}/billing")
    else:
        expect(link).to_have_count(0)
    if next_step != RETRY:
        expect(alert).not_to_contain_text("cannot be charged twice")


def test_a_declined_card_with_a_billing_url_offers_the_billing_page(new_page, live_server, sandbox, hostsite, settings):
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": "https://landing.test"}

    def landing(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/credits"):
            return httpx.Response(200, json={"credits": 10.0, "spend": 10.0, "remaining": 0.0})
        body = {"error": "Your card was declined.", "code": "card_declined", "url": "https://landing.test/billing"}
        return httpx.Response(402, json=body)

    with override_transport(httpx.MockTransport(landing)):
        page = new_page()
        page.goto(live_server.url + "/")
        widget = page.get_by_role("region", name="Credits exhausted").first
        widget.get_by_role("button", name="$25").click()
        alert = widget.get_by_role("alert")
        expect(alert).to_have_text("Your card was declined. Open the billing page")
        expect(alert.get_by_role("link", name="Open the billing page")).to_have_attribute(
            "href", "https://landing.test/billing"
        )
