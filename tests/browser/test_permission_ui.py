"""With CREDITS["TOPUP_PERMISSION"] set, a user without it sees the balance and who to ask,
in the header menu and in the chat's inline widget, and no amounts to press."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from playwright.sync_api import expect

from credits.models import TopupAttempt
from tests.browser.pages import header_balance, open_menu

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SENTENCE = "Ask grace to add credits."


@pytest.fixture
def required(sandbox: Any, settings: Any, django_user_model: Any) -> Any:
    """Top-ups need credits.top_up, which only grace holds; the demo agent answers in the chat."""
    settings.CREDITS = {**settings.CREDITS, "TOPUP_PERMISSION": "credits.top_up", "SANDBOX": True}
    settings.CHAT = {"AGENT": "chat.agents.DemoAgent", "SPEND_CENTS": 25}
    grace = django_user_model.objects.create_user("grace", "grace@example.com", "pw-grace-123")
    grace.user_permissions.add(Permission.objects.get(content_type__app_label="credits", codename="top_up"))
    return sandbox


def test_the_header_menu_shows_the_balance_and_who_to_ask(new_page, live_server, required):
    page = new_page()
    page.goto(live_server.url + "/ui/")
    expect(header_balance(page)).to_have_text("$10.00")
    menu = open_menu(page)
    expect(menu.locator(".credits-ask")).to_have_text(SENTENCE)
    expect(menu.get_by_role("button", name="$10")).to_have_count(0)
    expect(menu.get_by_label("Custom amount")).to_have_count(0)
    expect(menu.get_by_role("list")).to_contain_text("No top-ups yet.")
    assert required.state.snapshot()["topupRequests"] == 0


def test_the_chats_inline_widget_shows_who_to_ask(new_page, live_server, required):
    required.state.configure(credits=0)
    page = new_page()
    page.goto(live_server.url + "/ui/")
    page.get_by_label("Message", exact=True).fill("Anyone there?")
    page.get_by_role("button", name="Send").click()
    stopped = page.locator(".chat-message--exhausted")
    expect(stopped).to_contain_text("No credits available")
    widget = stopped.get_by_role("region", name="Credits exhausted")
    expect(widget).to_be_visible()
    expect(widget.locator(".credits-ask")).to_have_text(SENTENCE)
    expect(widget.locator("[data-credits-amount]")).to_have_text("$0.00")
    expect(widget.get_by_role("button", name="$10")).to_have_count(0)
    expect(widget.get_by_label("Custom amount")).to_have_count(0)
    assert required.state.snapshot()["topupRequests"] == 0
    assert TopupAttempt.objects.count() == 0


def test_a_user_holding_it_through_a_group_tops_up_as_before(new_page, live_server, required, user):
    billing = Group.objects.create(name="billing")
    billing.permissions.add(Permission.objects.get(content_type__app_label="credits", codename="top_up"))
    user.groups.add(billing)
    page = new_page()
    page.goto(live_server.url + "/ui/")
    menu = open_menu(page)
    expect(menu.locator(".credits-ask")).to_have_count(0)
    menu.get_by_role("button", name="$10").click()
    expect(menu.get_by_role("status")).to_have_text("Added $10")
    expect(header_balance(page)).to_have_text("$20.00")
    assert [c["amountCents"] for c in required.state.snapshot()["charges"]] == [1000]
