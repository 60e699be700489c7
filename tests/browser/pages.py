"""What the browser tests do on a page, written once."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect


def open_menu(page: Page) -> Any:
    """Open the header's "+ credits" menu; the panel, a group named "Add credits"."""
    page.get_by_role("button", name="+ credits").click()
    expect(page.get_by_role("button", name="+ credits")).to_have_attribute("aria-expanded", "true")
    return page.get_by_role("group", name="Add credits")


def header_balance(page: Page) -> Any:
    return page.locator(".credits--header [data-credits-amount]")


# The balance is refreshed only when something happens (a message answered, a top-up), never
# on a timer during the test: what the page shows follows from what the user did.
NO_TIMER = "window.reefCredits = {refreshMs: 600000};"


def send(page: Page, text: str) -> None:
    """Write ``text`` in the chat's message box and press Send."""
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_role("button", name="Send").click()


def assistant(page: Page) -> Any:
    """The agent's answered messages (not one still pending)."""
    return page.locator(".chat-message--assistant:not(.chat-message--pending)")
