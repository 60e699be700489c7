"""Round 2 without JavaScript, in Chromium: the credits page keeps an invalid custom amount and
says the range beside it, and lets a manager change the auto top-up with a plain form."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from credits.models import AutoTopup, Source, Status, TopupAttempt
from tests.test_auto_topup import grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGE = "/ui/credits/"
RANGE = "A top-up must be from $5 to $1,000."


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=["1280x800", "390x844"])
def test_an_invalid_custom_amount_keeps_the_value_and_says_the_range(new_page, live_server, sandbox, size):
    page = new_page(javascript=False, width=size[0], height=size[1])
    page.goto(live_server.url + PAGE)
    add = page.get_by_role("main").get_by_role("region", name="Add credits")
    amount = add.get_by_role("spinbutton", name="Custom amount")
    amount.fill("-10")
    add.get_by_role("button", name="Add", exact=True).click()
    expect(page).to_have_url(live_server.url + PAGE)
    amount = page.get_by_role("main").get_by_role("spinbutton", name="Custom amount")
    expect(amount).to_have_value("-10")  # kept as typed
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(amount).to_have_accessible_description(f"{RANGE} Whole dollars, $5 to $1,000.")
    expect(amount).to_be_focused()
    error = page.get_by_role("main").locator(".credits-field-error")
    expect(error).to_have_text(RANGE)
    expect(error).to_be_visible()
    expect(page.locator(".site-messages")).to_have_count(0)  # beside the field, not in the banner
    assert sandbox.state.snapshot()["topupRequests"] == 0

    amount.fill("7.5")
    page.get_by_role("main").get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("main").locator(".credits-field-error")).to_have_text(
        "Enter a whole number of dollars, such as 10."
    )
    expect(page.get_by_role("main").get_by_role("spinbutton", name="Custom amount")).to_have_value("7.5")

    page.get_by_role("main").get_by_role("spinbutton", name="Custom amount").fill("7")
    page.get_by_role("main").get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("Added $7")).to_be_visible()
    expect(page.get_by_role("main").locator(".credits-field-error")).to_have_count(0)
    expect(page.get_by_role("main").get_by_role("spinbutton", name="Custom amount")).to_have_value("")
    assert [c["amountCents"] for c in sandbox.state.snapshot()["charges"]] == [700]
    assert TopupAttempt.objects.get().status == Status.SUCCEEDED


def test_a_manager_changes_the_auto_top_up_without_javascript(new_page, live_server, sandbox, user):
    grant(user)
    page = new_page(javascript=False, width=1280, height=800)
    page.goto(live_server.url + PAGE)
    auto = page.get_by_role("main").get_by_role("region", name="Auto top-up")
    expect(auto.get_by_text("Auto top-up: off", exact=True)).to_be_visible()
    auto.get_by_label("Top up automatically").check()
    auto.get_by_label("When the balance falls below (dollars)").fill("5")
    auto.get_by_label("Add (dollars)").fill("25")
    auto.get_by_label("Monthly cap (dollars)").fill("10")
    auto.get_by_role("button", name="Save").click()
    # AutoTopupForm's rule, beside its field; nothing saved, the values kept
    cap = auto.get_by_label("Monthly cap (dollars)")
    expect(cap).to_have_attribute("aria-invalid", "true")
    expect(cap).to_have_accessible_description("The monthly cap must be at least the amount of one top-up.")
    expect(auto.get_by_label("Add (dollars)")).to_have_value("25")
    assert not AutoTopup.objects.filter(enabled=True).exists()
    cap.fill("100")
    auto.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved. Auto top-up: on, $25 when below $5.")).to_be_visible()
    expect(auto.get_by_text("Auto top-up: on, $25 when below $5", exact=True)).to_be_visible()
    expect(auto.get_by_label("Top up automatically")).to_be_checked()
    row = AutoTopup.objects.get()
    assert (row.enabled, row.threshold_cents, row.amount_cents, row.monthly_cap_cents) == (True, 500, 2500, 10000)


def test_without_the_permission_the_page_only_says_the_setting(new_page, live_server, sandbox, other_user):
    AutoTopup.objects.create(
        pk=1, enabled=True, enabled_by=other_user, threshold_cents=500, amount_cents=2500, monthly_cap_cents=10000
    )
    TopupAttempt.objects.create(
        user=other_user, amount_cents=2500, idempotency_key="a-1", status=Status.SUCCEEDED, source=Source.AUTO
    )
    page = new_page(javascript=False, width=1280, height=800)
    page.goto(live_server.url + PAGE)
    auto = page.get_by_role("main").get_by_role("region", name="Auto top-up")
    expect(auto.get_by_text("Auto top-up: on, $25 when below $5", exact=True)).to_be_visible()
    expect(auto.get_by_text("Spent this month: $25 of $100.")).to_have_count(1)
    expect(auto.get_by_label("Top up automatically")).to_have_count(0)
    expect(auto.get_by_role("button", name="Save")).to_have_count(0)
