"""Auto top-up in the header menu: a manager turns it on, the balance drops, the header shows
the refilled balance without a click (a real db_worker charges it); read-only for others."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from credits.models import AutoTopup, Source, Status, TopupAttempt
from tests.browser.pages import header_balance, open_menu
from tests.processes import start_worker
from tests.test_auto_topup import grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHAT = "/ui/"
FAST_REFRESH = "window.reefCredits = {refreshMs: 500};"


@pytest.fixture
def fresh(sandbox: Any, settings: Any) -> Any:
    settings.CREDITS = {**settings.CREDITS, "BALANCE_CACHE_SECONDS": 0}
    return sandbox


def test_a_manager_turns_it_on_and_the_header_refills_without_a_click(new_page, live_server, fresh, user, tmp_path):
    grant(user)
    worker = start_worker(tmp_path / "worker.log")
    try:
        page = new_page()
        page.add_init_script(FAST_REFRESH)
        page.goto(live_server.url + CHAT)
        expect(header_balance(page)).to_have_text("$10.00")
        menu = open_menu(page)
        disclosure = menu.get_by_role("button", name="Auto top-up: off")  # its state in one line
        expect(disclosure).to_have_attribute("aria-expanded", "false")
        disclosure.click()
        expect(menu.get_by_text("Off: credits are only added by hand.")).to_be_visible()
        menu.get_by_label("Top up automatically").check()
        menu.get_by_label("When the balance falls below (dollars)").fill("5")
        menu.get_by_label("Add (dollars)").fill("25")
        menu.get_by_label("Monthly cap (dollars)").fill("100")
        menu.get_by_role("button", name="Save").click()
        expect(menu.get_by_text("Saved", exact=True)).to_be_visible()
        expect(
            menu.get_by_text("On: when the balance falls below $5, $25 is added, at most $100 a month.")
        ).to_be_visible()
        page.keyboard.press("Escape")

        fresh.state.configure(spend=8)  # $2 left: below the threshold
        expect(header_balance(page)).to_have_text("$27.00", timeout=20_000)
        assert [c["amountCents"] for c in fresh.state.snapshot()["charges"]] == [2500]
        attempt = TopupAttempt.objects.get()
        assert (attempt.source, attempt.user_id, attempt.status) == (Source.AUTO, user.pk, Status.SUCCEEDED)
        menu = open_menu(page)
        expect(menu.get_by_role("button", name="Auto top-up: on, $25 when below $5")).to_have_attribute(
            "aria-expanded", "true"
        )  # still open from before
        expect(menu.get_by_text("Spent this month: $25 of $100.")).to_have_count(1)  # said once
        expect(menu.get_by_text("Spent this month: $25 of $100.")).to_be_visible()
    finally:
        worker.stop()


def test_without_the_permission_it_is_read_only(new_page, live_server, fresh, other_user):
    AutoTopup.objects.create(
        pk=1, enabled=True, enabled_by=other_user, threshold_cents=500, amount_cents=2500, monthly_cap_cents=10000
    )
    page = new_page()
    page.goto(live_server.url + CHAT)
    menu = open_menu(page)
    menu.get_by_role("button", name="Auto top-up: on, $25 when below $5").click()
    expect(menu.get_by_text("On: when the balance falls below $5, $25 is added, at most $100 a month.")).to_be_visible()
    expect(menu.get_by_label("Top up automatically")).to_be_hidden()
    expect(menu.get_by_role("button", name="Save")).to_be_hidden()


def test_everyone_sees_why_it_was_turned_off(new_page, live_server, fresh):
    AutoTopup.objects.create(pk=1, enabled=False, disabled_reason="Three top-ups failed: card declined.")
    page = new_page()
    page.goto(live_server.url + CHAT)
    expect(page.locator(".credits--header [data-credits-auto-notice]")).to_have_text(
        "Auto top-up was turned off: Three top-ups failed: card declined."
    )
