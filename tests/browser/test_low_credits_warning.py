"""The "running low" warning above the chat's message box, in a real browser against the sandbox
landing: it appears while the agent spends the last dollars above the line, before any task runs
out of credits; a top-up from inside it ends it (or, too small to end it, leaves it up); without
JavaScript the chat page renders it with its forms."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from credits.balance import read_balance
from credits.models import AlertState, Source, Status, TopupAttempt
from tests.browser.pages import NO_TIMER, assistant, header_balance, send

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHAT = "/ui/"
LOW = 5.0  # CREDITS["LOW_BALANCE_DOLLARS"]; the warning ends from 1.25 times this ($6.25) on
START = 5.60  # three 25-cent answers from the line: $5.35, $5.10, then $4.85 (running low)
NO_CREDITS = "No credits available"
OVER = "The credits are no longer running low."

# Records, the moment the warning is first shown, whether "No credits available" was on the
# page, and every sentence its title says.
WATCH_WARNING = """
window.__warningShown = null;
window.__warningTitles = [];
document.addEventListener("DOMContentLoaded", () => {
  const region = document.querySelector("[data-credits-warning]");
  if (!region) return;
  const title = region.querySelector("[data-credits-warning-text]");
  const look = () => {
    if (window.__warningShown === null && !region.hidden) {
      window.__warningShown = {noCredits: document.body.textContent.includes("No credits available"),
                               text: title.textContent};
    }
  };
  look();
  new MutationObserver(look).observe(region, {attributes: true, attributeFilter: ["hidden"]});
  new MutationObserver(() => window.__warningTitles.push(title.textContent))
    .observe(title, {childList: true, characterData: true, subtree: true});
});
"""


def titles(page: Page) -> list[str]:
    """What the warning's title has said since the page loaded, each change once."""
    said: list[str] = page.evaluate("window.__warningTitles")
    return [text for i, text in enumerate(said) if i == 0 or said[i - 1] != text]


@pytest.fixture
def demo(demo: Any, settings: Any) -> Any:
    """The demo agent (25 cents an answer), from a sandbox a little above the line, and a
    balance read afresh by every refresh (no cache), so each reading is held against the line."""
    settings.CREDITS = {**settings.CREDITS, "LOW_BALANCE_DOLLARS": LOW, "BALANCE_CACHE_SECONDS": 0}
    demo.state.configure(credits=START)
    return demo


def running_low_at(demo: Any, dollars: float) -> None:
    """The sandbox at ``dollars`` (below the line), read once: the site is running low."""
    demo.state.configure(credits=dollars)
    read_balance()
    assert AlertState.objects.get().low


def warning(page: Page) -> Locator:
    """The region itself, hidden or not (its name changes when the warning ends)."""
    return page.locator("section[data-credits-warning]")


def running_low(page: Page) -> Locator:
    return page.get_by_role("region", name="Credits are running low")


def composer(page: Page) -> Locator:
    return page.locator("[data-chat-composer]")


def to_the_bottom(page: Page) -> None:
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")


def above(upper: Locator, lower: Locator) -> None:
    """``upper`` ends where ``lower`` begins or above, in the same column and as wide."""
    a, b = upper.bounding_box(), lower.bounding_box()
    assert a is not None and b is not None
    assert a["y"] + a["height"] <= b["y"] + 1, (a, b)
    assert abs(a["x"] - b["x"]) <= 1 and abs(a["width"] - b["width"]) <= 1, (a, b)


def uncovered(region: Locator) -> bool:
    """Whether the middle of the region's title is on the screen and nothing covers it there."""
    return bool(
        region.locator("[data-credits-warning-text]").evaluate(
            """title => {
              const box = title.getBoundingClientRect(), x = box.left + box.width / 2, y = box.top + box.height / 2;
              if (y < 0 || y > innerHeight) return false;
              const hit = document.elementFromPoint(x, y);
              return !!hit && title.closest("[data-credits-warning]").contains(hit);
            }"""
        )
    )


def test_the_warning_shows_before_the_credits_run_out_and_a_top_up_ends_it(new_page, live_server, demo, screenshots):
    page = new_page(width=1280, height=800)
    page.add_init_script(NO_TIMER)
    page.add_init_script(WATCH_WARNING)
    page.goto(live_server.url + CHAT)
    expect(header_balance(page)).to_have_text("$5.60")
    expect(warning(page)).to_be_hidden()

    for count, (text, balance) in enumerate(
        [("Check the deploy logs, please.", "$5.35"), ("And the incidents?", "$5.10")], start=1
    ):
        send(page, text)
        expect(assistant(page)).to_have_count(count)
        expect(header_balance(page)).to_have_text(balance)  # the refresh after the answer
        expect(warning(page)).to_be_hidden()  # above the line
    assert not AlertState.objects.filter(low=True).exists()

    send(page, "Summarise yesterday, please.")  # $5.10 → $4.85: below the $5 line
    expect(assistant(page)).to_have_count(3)
    region = running_low(page)
    expect(region).to_be_visible()
    assert page.get_by_text(NO_CREDITS).count() == 0  # before any task has run out
    shown = page.evaluate("window.__warningShown")
    assert shown == {"noCredits": False, "text": "Credits are running low: $4.85 left."}, shown
    expect(region).to_have_accessible_name("Credits are running low: $4.85 left.")
    expect(region).to_contain_text("Add credits now, before a task stops.")
    expect(region.locator("[data-credits-amount]")).to_have_text("$4.85")
    expect(header_balance(page)).to_have_text("$4.85")
    assert AlertState.objects.get().low

    # Scrolled to the end: under the conversation, straight above the message box, as wide.
    to_the_bottom(page)
    above(page.locator(".chat-log"), region)
    above(region, composer(page))
    assert uncovered(region)
    page.screenshot(path=str(screenshots / "chat-warning.png"))

    # It stays while the credits stay low, and follows them down.
    send(page, "One more, please.")
    expect(assistant(page)).to_have_count(4)
    expect(page.get_by_role("region", name="Credits are running low: $4.60 left.")).to_be_visible()
    expect(page.get_by_text(NO_CREDITS)).to_have_count(0)

    # A top-up from inside it: $25 → $29.60, well above 1.25 times the line, so the warning ends.
    # Focus is still on the button pressed, so the region stays and says so, without the
    # sentence that urged a top-up; it goes once focus leaves it.
    to_the_bottom(page)
    preset = warning(page).get_by_role("button", name="$25")
    preset.click()
    expect(page.get_by_role("status").filter(has_text="Added $25")).to_be_visible()
    expect(header_balance(page)).to_have_text("$29.60")
    over = page.get_by_role("region", name=OVER)
    expect(over).to_be_visible()
    expect(preset).to_be_focused()
    expect(over.locator("[data-credits-amount]")).to_have_text("$29.60")
    expect(over.get_by_text("Add credits now")).to_be_hidden()
    expect(running_low(page)).to_have_count(0)
    assert not AlertState.objects.get().low
    page.get_by_label("Message", exact=True).focus()
    expect(warning(page)).to_be_hidden()
    assert titles(page) == [
        "Credits are running low: $4.85 left.",
        "Credits are running low: $4.60 left.",
        OVER,
    ]

    attempt = TopupAttempt.objects.get()
    assert (attempt.source, attempt.amount_cents, attempt.status) == (Source.WARNING, 2500, Status.SUCCEEDED)
    assert [c["amountCents"] for c in demo.state.snapshot()["charges"]] == [2500]

    send(page, "Thanks!")  # well above the line: the warning stays away
    expect(assistant(page)).to_have_count(5)
    expect(header_balance(page)).to_have_text("$29.35")
    expect(warning(page)).to_be_hidden()
    page.reload()  # nor does the server render it again
    expect(assistant(page)).to_have_count(5)
    expect(warning(page)).to_be_hidden()
    expect(page.get_by_text(NO_CREDITS)).to_have_count(0)


def test_a_top_up_too_small_to_end_it_leaves_the_warning_up(new_page, live_server, demo):
    running_low_at(demo, 1.0)
    page = new_page()
    page.add_init_script(NO_TIMER)
    page.add_init_script(WATCH_WARNING)
    page.goto(live_server.url + CHAT)
    region = running_low(page)
    expect(region).to_have_accessible_name("Credits are running low: $1.00 left.")  # rendered so

    region.get_by_role("button", name="$5", exact=True).click()  # $6.00: above $5, under $6.25
    expect(page.get_by_role("status").filter(has_text="Added $5")).to_be_visible()
    expect(header_balance(page)).to_have_text("$6.00")
    expect(region).to_have_accessible_name("Credits are running low: $6.00 left.")  # what the server says
    page.get_by_label("Message", exact=True).focus()
    page.wait_for_timeout(300)  # time enough for anything that would hide it on leaving
    expect(region).to_be_visible()
    assert OVER not in titles(page) and titles(page)[-1] == "Credits are running low: $6.00 left.", titles(page)
    assert AlertState.objects.get().low
    page.reload()
    expect(running_low(page)).to_have_accessible_name("Credits are running low: $6.00 left.")


def test_the_warning_is_seen_without_scrolling_when_it_appears(new_page, live_server, demo):
    page = new_page(width=1280, height=800)
    page.add_init_script(NO_TIMER)
    page.goto(live_server.url + CHAT)
    for count in range(1, 4):  # $5.60 → $4.85: the third answer crosses the line, as a user sees it
        send(page, f"Message {count}: check the deploy logs, the incidents and the release notes, please.")
        expect(assistant(page)).to_have_count(count)
    region = running_low(page)
    expect(region).to_be_visible()
    assert uncovered(region)


def test_without_javascript_the_chat_page_renders_the_warning_with_its_controls(new_page, live_server, demo, settings):
    settings.CREDITS = {**settings.CREDITS, "BALANCE_CACHE_SECONDS": 60}  # the page shows the balance it holds
    running_low_at(demo, 3.0)
    page = new_page(javascript=False)
    page.goto(live_server.url + CHAT)
    region = running_low(page)
    expect(region).to_be_visible()
    expect(region).to_have_accessible_name("Credits are running low: $3.00 left.")
    expect(region).to_contain_text("Add credits now, before a task stops.")
    expect(region.locator("[data-credits-amount]")).to_have_text("$3.00")  # the cached balance
    above(region, composer(page))
    for amount in ("$5", "$10", "$25", "$50"):
        expect(region.get_by_role("button", name=amount, exact=True)).to_be_visible()
    expect(region.get_by_label("Custom amount")).to_be_visible()
    expect(region.get_by_role("button", name="Add", exact=True)).to_be_visible()

    region.get_by_role("button", name="$10", exact=True).click()  # the form posts and comes back here
    expect(page).to_have_url(live_server.url + CHAT)
    expect(running_low(page)).to_have_count(0)
    expect(warning(page)).to_be_hidden()
    attempt = TopupAttempt.objects.get()
    assert (attempt.source, attempt.amount_cents, attempt.status) == (Source.FORM, 1000, Status.SUCCEEDED)
    assert demo.state.snapshot()["remaining"] == 13.0
