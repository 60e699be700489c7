"""Round 2 of "what a person meets", in Chromium at 1280x800 and on a 390x844 phone: the open
header panel fits the window (centred on the phone), the auto top-up is a disclosure that says
its state in one line, the recent top-ups are short and mark automatic ones, the billing link
opens in a tab of its own, a negative amount says the range; and axe, light and dark."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from credits.api import created_text
from credits.models import AutoTopup, Source, Status, TopupAttempt
from tests.browser.pages import open_menu
from tests.browser.test_accessibility import SCHEMES, assert_no_serious_findings
from tests.test_auto_topup import grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHAT = "/ui/"
PAGE = "/ui/credits/"
DESKTOP, PHONE = (1280, 800), (390, 844)
SIZES = pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1280x800", "390x844"])
BUSY = "The billing service is busy with this team's charges, so nothing was charged."


def five_top_ups(user: Any) -> list[TopupAttempt]:
    """A full list of recent top-ups, two of them automatic, one declined with a long sentence."""
    rows = [
        (Status.SUCCEEDED, Source.FORM, "", ""),
        (Status.DECLINED, Source.INLINE, "Your card was declined (sandbox).", "card_declined"),
        (Status.SUCCEEDED, Source.AUTO, "", ""),
        (Status.DECLINED, Source.AUTO, BUSY, "rate_limited"),
        (Status.SUCCEEDED, Source.HEADER, "", ""),
    ]
    return [
        TopupAttempt.objects.create(
            user=user,
            amount_cents=1000 * (index + 1),
            idempotency_key=uuid.uuid4().hex,
            status=status,
            source=source,
            error_message=message,
            error_code=code,
        )
        for index, (status, source, message, code) in enumerate(rows)
    ]


def panel_box(page: Page) -> dict[str, float]:
    box = page.locator(".credits--header .credits-panel").bounding_box()
    assert box is not None
    return box


def assert_inside_the_window(page: Page, size: tuple[int, int]) -> dict[str, float]:
    width, height = size
    box = panel_box(page)
    assert box["x"] >= 0 and box["y"] >= 0, box
    assert box["x"] + box["width"] <= width, box
    assert box["y"] + box["height"] <= height, box
    return box


@SIZES
def test_the_open_panel_fits_the_window_with_the_auto_top_up_closed_and_open(
    new_page, live_server, sandbox, user, size
):
    user = grant(user)  # a manager: the disclosure opens onto the whole form, the tallest panel there is
    five_top_ups(user)
    page = new_page(width=size[0], height=size[1])
    page.goto(live_server.url + CHAT)
    menu = open_menu(page)
    expect(menu.locator(".credits-item")).to_have_count(5)
    # The balance's line comes with its own answer and makes the panel taller: measure after it.
    expect(menu.locator("[data-credits-detail]")).to_contain_text("bought in total")
    disclosure = menu.get_by_role("button", name="Auto top-up: off")  # its state, in one line
    expect(disclosure).to_have_attribute("aria-expanded", "false")
    expect(menu.get_by_label("Top up automatically")).to_be_hidden()
    box = assert_inside_the_window(page, size)
    if size == DESKTOP:  # the recent top-ups above the fold, without scrolling the panel
        last = menu.locator(".credits-item").last.bounding_box()
        assert last is not None and last["y"] + last["height"] <= box["y"] + box["height"]
    if size == PHONE:  # centred
        assert abs(box["x"] - (size[0] - box["x"] - box["width"])) <= 1.5, box

    disclosure.click()
    expect(disclosure).to_have_attribute("aria-expanded", "true")
    expect(menu.get_by_text("Off: credits are only added by hand.")).to_be_visible()
    expect(menu.get_by_label("Top up automatically")).to_be_visible()
    assert_inside_the_window(page, size)
    # Taller than the window now, it scrolls inside: the form's Save is reachable.
    menu.get_by_role("button", name="Save").scroll_into_view_if_needed()
    expect(menu.get_by_role("button", name="Save")).to_be_in_viewport()
    assert_inside_the_window(page, size)
    disclosure.scroll_into_view_if_needed()
    disclosure.click()
    expect(menu.get_by_label("Top up automatically")).to_be_hidden()


def test_the_disclosure_says_on_and_spent_this_month_once(new_page, live_server, sandbox, user, other_user):
    AutoTopup.objects.create(
        pk=1, enabled=True, enabled_by=other_user, threshold_cents=500, amount_cents=2500, monthly_cap_cents=10000
    )
    TopupAttempt.objects.create(
        user=other_user, amount_cents=2500, idempotency_key="auto-1", status=Status.SUCCEEDED, source=Source.AUTO
    )
    page = new_page(width=1280, height=800)
    page.goto(live_server.url + CHAT)
    menu = open_menu(page)
    disclosure = menu.get_by_role("button", name="Auto top-up: on, $25 when below $5")
    expect(disclosure).to_be_visible()
    expect(menu.get_by_text("Spent this month")).to_be_hidden()
    disclosure.click()
    expect(menu.get_by_text("Spent this month: $25 of $100.")).to_have_count(1)
    expect(menu.get_by_text("Spent this month: $25 of $100.")).to_be_visible()
    expect(menu.get_by_text("On: when the balance falls below $5, $25 is added, at most $100 a month.")).to_be_visible()


def test_the_balance_detail_says_bought_and_used(new_page, live_server, sandbox):
    sandbox.state.configure(credits=1250, spend=1250)
    page = new_page(width=1280, height=800)
    page.goto(live_server.url + CHAT)
    menu = open_menu(page)
    expect(menu.locator("[data-credits-detail]")).to_have_text("$1,250.00 bought in total, $1,250.00 used")
    expect(page.locator(".credits--header [data-credits-balance]")).to_have_attribute(
        "title", "$1,250.00 bought in total, $1,250.00 used"
    )


def test_recent_top_ups_are_short_mark_automatic_ones_and_write_the_time_as_the_page_does(
    new_page, live_server, sandbox, user
):
    attempts = five_top_ups(user)
    page = new_page(width=1280, height=800)
    page.goto(live_server.url + CHAT)
    items = open_menu(page).locator(".credits-item")
    expect(items).to_have_count(5)
    busy = items.nth(1)  # newest first: the $40 automatic one the billing service was too busy for
    expect(busy.locator(".credits-tag")).to_have_text("Auto")
    expect(busy.locator(".credits-outcome")).to_have_text("Not charged: billing service busy")
    expect(busy.locator(".credits-outcome")).to_have_attribute("title", BUSY)
    expect(busy).not_to_contain_text("(")
    expect(items.nth(2).locator(".credits-tag")).to_have_text("Auto")
    expect(items.nth(0).locator(".credits-tag")).to_have_count(0)
    expect(items.nth(3).locator(".credits-outcome")).to_have_text("Declined by the billing service")
    # One time format for the script and the page without it: the server's.
    expect(items.nth(0).locator("time")).to_have_text(created_text(attempts[-1].created_at))
    page.goto(live_server.url + PAGE)
    expect(page.get_by_role("main").locator(".credits-item").first.locator("time")).to_have_text(
        created_text(attempts[-1].created_at)
    )


def test_the_billing_link_opens_in_a_tab_of_its_own(new_page, live_server, sandbox):
    sandbox.state.configure(mode="no_card")
    page = new_page(width=1280, height=800)
    page.goto(live_server.url + CHAT)
    menu = open_menu(page)
    menu.get_by_role("button", name="$10").click()
    link = menu.get_by_role("alert").get_by_role("link", name="Open the billing page")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener")
    with page.context.expect_page() as opened:
        link.click()
    opened.value.close()
    expect(page).to_have_url(live_server.url + CHAT)  # the chat stays
    expect(menu).to_be_visible()


@pytest.mark.parametrize("typed", ["-10", "3", "5000"])
def test_a_negative_or_out_of_range_amount_says_the_range(new_page, live_server, sandbox, typed):
    page = new_page(width=1280, height=800)
    page.goto(live_server.url + CHAT)
    menu = open_menu(page)
    amount = menu.get_by_role("spinbutton", name="Custom amount")
    amount.fill(typed)
    amount.press("Enter")
    expect(menu.get_by_role("alert")).to_have_text("A top-up must be from $5 to $1,000.")
    expect(amount).to_have_attribute("aria-invalid", "true")
    assert sandbox.state.snapshot()["topupRequests"] == 0


def test_an_unknown_outcome_says_one_instruction(new_page, live_server, sandbox, settings):
    settings.CREDITS = {**settings.CREDITS, "TIMEOUT": 0.5}
    sandbox.state.configure(delay=1.5)
    page = new_page(width=1280, height=800)
    page.goto(live_server.url + CHAT)
    menu = open_menu(page)
    menu.get_by_role("button", name="$25").click()
    alert = menu.get_by_role("alert")
    expect(alert).to_have_text(
        "The billing service did not answer in time, so we do not know yet whether the credits were added. "
        "Pressing the same amount again is safe: it cannot be charged twice.",
        timeout=10_000,
    )


# --- axe: the open panel, the credits page and the phone, light and dark ------------------------------


@SCHEMES
def test_axe_on_the_open_panel_with_the_auto_top_up_open(new_page, live_server, sandbox, user, dark):
    five_top_ups(grant(user))
    page = new_page(width=1280, height=800, dark=dark)
    page.goto(live_server.url + CHAT)
    menu = open_menu(page)
    expect(menu.locator(".credits-item")).to_have_count(5)
    assert_no_serious_findings(page, f"open panel ({'dark' if dark else 'light'})")
    menu.get_by_role("button", name="Auto top-up: off").click()
    expect(menu.get_by_label("Top up automatically")).to_be_visible()
    assert_no_serious_findings(page, f"open panel, auto top-up open ({'dark' if dark else 'light'})")


@SCHEMES
def test_axe_on_the_credits_page(new_page, live_server, sandbox, user, dark):
    five_top_ups(grant(user))
    page = new_page(width=1280, height=800, dark=dark)
    page.goto(live_server.url + PAGE)
    expect(page.get_by_role("heading", level=1)).to_have_text("Credits")
    expect(page.get_by_role("main").get_by_label("Top up automatically")).to_be_visible()
    assert_no_serious_findings(page, f"credits page ({'dark' if dark else 'light'})")


@SCHEMES
def test_axe_on_the_phone_with_the_panel_open(new_page, live_server, sandbox, user, dark, screenshots):
    five_top_ups(user)
    page = new_page(width=PHONE[0], height=PHONE[1], dark=dark)
    page.goto(live_server.url + CHAT)
    menu = open_menu(page)
    expect(menu.locator(".credits-item")).to_have_count(5)
    menu.get_by_role("button", name="Auto top-up: off").click()
    assert_inside_the_window(page, PHONE)
    assert_no_serious_findings(page, f"phone, panel open ({'dark' if dark else 'light'})")
    page.screenshot(path=str(screenshots / f"round2-phone-{'dark' if dark else 'light'}.png"))
