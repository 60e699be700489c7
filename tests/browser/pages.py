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
