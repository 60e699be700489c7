"""A log-in link opened in a real browser: a page with a button; pressing it logs in."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from reef_site.management.commands.magic_link import link_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_opening_a_link_shows_a_button_and_pressing_it_logs_in(browser: Browser, live_server, user):
    context = browser.new_context()
    page = context.new_page()
    url = link_for(user, live_server.url)
    page.goto(url)  # what a link preview does: nothing more
    button = page.get_by_role("button", name="Log in")
    expect(button).to_be_visible()
    assert not [c for c in context.cookies() if c["name"] == "sessionid"]
    button.click()
    expect(page).to_have_url(live_server.url + "/ui/")
    expect(page.get_by_role("button", name="+ credits")).to_be_visible()
    page.goto(url)  # used up
    expect(page.get_by_role("button", name="Log in")).to_have_count(0)
    context.close()
