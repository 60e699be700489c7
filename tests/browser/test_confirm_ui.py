"""A second look before a large amount: the custom amount at or above
``CREDITS["CONFIRM_ABOVE_DOLLARS"]`` asks first, and nothing is sent until Confirm."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.pages import open_menu

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_large_custom_amount_asks_first_cancel_sends_nothing_confirm_adds_it(new_page, live_server, sandbox):
    page = new_page()
    page.goto(live_server.url + "/ui/")
    menu = open_menu(page)
    amount = menu.get_by_label("Custom amount")
    amount.fill("1000")
    menu.get_by_role("button", name="Add", exact=True).click()
    question = menu.get_by_role("group", name="Add $1,000 to the team's credits?")
    expect(question).to_be_visible()
    expect(question.get_by_role("button", name="Confirm")).to_be_focused()

    question.get_by_role("button", name="Cancel").click()
    expect(question).to_be_hidden()
    expect(amount).to_be_focused()
    page.wait_for_timeout(300)
    assert sandbox.state.snapshot()["topupRequests"] == 0

    menu.get_by_role("button", name="Add", exact=True).click()
    question.get_by_role("button", name="Confirm").click()
    expect(menu.get_by_role("status")).to_have_text("Added $1,000")
    assert [c["amountCents"] for c in sandbox.state.snapshot()["charges"]] == [100_000]

    amount.fill("150")  # below the line: sent at once
    menu.get_by_role("button", name="Add", exact=True).click()
    expect(menu.get_by_role("status")).to_have_text("Added $150")
    expect(question).to_be_hidden()
