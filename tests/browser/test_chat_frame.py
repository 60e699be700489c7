"""The chat keeps its frame, on a wide screen and on a phone: the header (with "+ credits" and
the balance) and the message box stay in place, and only the messages between them scroll,
the newest in view after sending, after a top-up and after Continue. The header is one row."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from chat.models import Conversation, Message, Role
from tests.browser.pages import NO_TIMER, assistant, header_balance, open_menu, send
from tests.browser.test_accessibility import SCHEMES, assert_no_serious_findings, chat_out_of_credits

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHAT = "/ui/"
SIZES = pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)], ids=["1280x800", "390x844"])


def log(page: Page) -> Locator:
    return page.get_by_role("log")


def in_view(target: Locator) -> None:
    """The middle of ``target`` is inside the window, inside every box around it that clips
    (the log), and nothing covers it there: a person sees it without scrolling."""
    found = target.evaluate(
        """el => {
          const box = el.getBoundingClientRect(), x = box.left + box.width / 2, y = box.top + box.height / 2;
          const clipped = [];
          for (let up = el.parentElement; up; up = up.parentElement) {
            if (getComputedStyle(up).overflowY === "visible") continue;
            const around = up.getBoundingClientRect();
            if (y < around.top || y > around.bottom || x < around.left || x > around.right) clipped.push(up.className);
          }
          const hit = document.elementFromPoint(x, y);
          return {inWindow: x >= 0 && x <= innerWidth && y >= 0 && y <= innerHeight, clipped,
                  covered: !hit || !(el === hit || el.contains(hit)), hit: hit && hit.outerHTML.slice(0, 80)};
        }"""
    )
    assert found["inWindow"] and not found["clipped"] and not found["covered"], found


def newest_in_view(page: Page) -> None:
    """The last message is on the screen, as much of it as the log can hold (all of it, unless it
    is taller than the log), inside the log and the window, and nothing covers it."""
    found = page.evaluate(
        """() => {
          const log = document.querySelector("[data-chat-log]"), view = log.getBoundingClientRect();
          const newest = document.querySelector("[data-chat-messages]").lastElementChild;
          const box = newest.querySelector(".chat-bubble").getBoundingClientRect();
          const top = Math.max(box.top, view.top), bottom = Math.min(box.bottom, view.bottom);
          const hit = document.elementFromPoint(box.left + box.width / 2, (top + bottom) / 2);
          return {shown: bottom - top, fits: Math.min(box.height, view.height), top: box.top, bottom: box.bottom,
                  logTop: view.top, logBottom: view.bottom, innerHeight, seen: !!hit && newest.contains(hit)};
        }"""
    )
    assert found["seen"] and found["shown"] >= found["fits"] - 12, found  # less the margin kept at its edge
    assert found["logTop"] >= 0 and found["logBottom"] <= found["innerHeight"], found


def the_page_does_not_scroll(page: Page) -> None:
    found = page.evaluate(
        """() => ({scrollY, scrollX, height: document.documentElement.scrollHeight, innerHeight,
                   width: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth})"""
    )
    assert found["scrollY"] == 0 and found["height"] <= found["innerHeight"], found
    assert found["width"] <= found["clientWidth"], found


@SIZES
def test_after_ten_messages_the_header_and_the_message_box_stay_and_the_newest_is_seen(
    new_page, live_server, demo, width, height, screenshots
):
    demo.state.configure(credits=10)  # ten answers, $7.50 left: above the line, no warning
    page = new_page(width=width, height=height)
    page.add_init_script(NO_TIMER)
    page.goto(live_server.url + CHAT)
    for count in range(1, 11):
        send(page, f"Message {count}: check the deploy logs, the incidents and the release notes, please.")
        expect(assistant(page)).to_have_count(count)
        newest_in_view(page)
    expect(header_balance(page)).to_have_text("$7.50")
    assert page.evaluate("document.querySelector('[data-chat-log]').scrollHeight > innerHeight")  # it does scroll
    the_page_does_not_scroll(page)
    in_view(page.get_by_role("button", name="+ credits"))
    in_view(header_balance(page))
    in_view(page.get_by_label("Message", exact=True))
    in_view(page.get_by_role("button", name="Send"))
    newest_in_view(page)
    expect(page.get_by_label("Message", exact=True)).to_be_focused()
    page.screenshot(path=str(screenshots / f"chat-frame-{width}.png"))

    # Opening the header's panel moves neither the page nor the messages.
    scrolled = log(page).evaluate("el => el.scrollTop")
    menu = open_menu(page)
    expect(menu.get_by_role("button", name="$5", exact=True)).to_be_focused()
    assert page.evaluate("scrollY") == 0
    assert log(page).evaluate("el => el.scrollTop") == scrolled
    in_view(page.get_by_role("button", name="+ credits"))
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="+ credits")).to_be_focused()
    assert page.evaluate("scrollY") == 0
    assert log(page).evaluate("el => el.scrollTop") == scrolled

    # The conversations on the side (a strip above the messages on a phone) still work.
    page.get_by_role("link", name="New conversation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New conversation")
    conversations = page.get_by_role("navigation", name="Conversations")
    conversations.get_by_role("link").filter(has_text="Message 1").click()
    expect(assistant(page)).to_have_count(10)
    newest_in_view(page)  # a reloaded conversation opens at its end
    the_page_does_not_scroll(page)
    in_view(page.get_by_role("button", name="+ credits"))


@SIZES
def test_after_a_top_up_in_the_message_continue_is_in_view_and_focused(
    new_page, live_server, demo, width, height, screenshots
):
    demo.state.configure(credits=0.25)  # one answer, then "No credits available"
    page = new_page(width=width, height=height)
    page.add_init_script(NO_TIMER)
    page.goto(live_server.url + CHAT)
    send(page, "Hello! Can you check the deploy logs?")
    expect(assistant(page)).to_have_count(1)
    send(page, "And summarise yesterday's incidents, please.")
    expect(assistant(page)).to_have_count(2)
    stopped = page.locator(".chat-message--exhausted")
    expect(stopped).to_contain_text("No credits available")
    newest_in_view(page)
    widget = stopped.get_by_role("region", name="Credits exhausted")
    amount = widget.get_by_role("button", name="$25")
    in_view(amount)

    amount.click()
    expect(widget.get_by_role("status")).to_have_text("Added $25")
    continue_button = stopped.get_by_role("button", name="Continue")
    expect(continue_button).to_be_focused()
    in_view(continue_button)
    in_view(widget.get_by_role("status"))
    in_view(page.get_by_label("Message", exact=True))
    in_view(page.get_by_role("button", name="+ credits"))
    the_page_does_not_scroll(page)
    page.screenshot(path=str(screenshots / f"chat-frame-continue-{width}.png"))

    page.keyboard.press("Enter")  # Continue, from the keyboard where the focus went
    expect(assistant(page)).to_have_count(3)
    expect(assistant(page).last).to_contain_text("summarise yesterday")
    newest_in_view(page)
    expect(page.locator("[data-chat-messages] > li").last).to_be_focused()
    the_page_does_not_scroll(page)


@SIZES
def test_the_header_is_one_row_with_each_control_on_one_line(new_page, live_server, demo, width, height):
    demo.state.configure(credits=4.85)  # running low: the balance says so beside its amount
    page = new_page(width=width, height=height)
    page.goto(live_server.url + CHAT)
    expect(header_balance(page)).to_have_text("$4.85")
    expect(page.locator(".credits--header .credits-balance--low")).to_have_count(1)
    controls = [
        page.get_by_role("link", name="reef", exact=True),
        page.locator(".site-header .credits-sandbox"),
        page.locator(".credits--header [data-credits-balance]"),
        page.get_by_role("button", name="+ credits"),
        page.get_by_role("button", name="Log out"),
    ]
    one_row(page, controls)
    the_page_does_not_scroll(page)


@SIZES
def test_without_javascript_the_frame_holds_and_the_log_opens_at_the_newest(
    new_page, live_server, sandbox, user, settings, width, height
):
    settings.CREDITS = {**settings.CREDITS, "SANDBOX": True}
    conversation = Conversation.objects.create(user=user, title="Deploy logs")
    for count in range(1, 13):
        asked = Message.objects.create(conversation=conversation, role=Role.USER, text=f"Question {count}?")
        Message.objects.create(
            conversation=conversation, role=Role.ASSISTANT, text=f"Answer {count}, at some length. " * 4, prompt=asked
        )
    page = new_page(javascript=False, width=width, height=height)
    page.goto(live_server.url + conversation.get_absolute_url())
    expect(page.locator(".chat-message")).to_have_count(24)
    newest_in_view(page)
    expect(page.locator(".chat-message").last).to_contain_text("Answer 12")
    the_page_does_not_scroll(page)
    link = page.locator(".credits--header").get_by_role("link", name="+ credits")
    in_view(link)
    in_view(page.get_by_label("Message", exact=True))
    one_row(page, [page.get_by_role("link", name="reef", exact=True), link, page.get_by_role("button", name="Log out")])

    send(page, "One more?")  # posts, and comes back to the new answer
    expect(page.locator(".chat-message")).to_have_count(26)
    newest_in_view(page)
    the_page_does_not_scroll(page)


def one_row(page: Page, controls: list[Locator]) -> None:
    """The controls share one row (each one's vertical middle inside every other's box), and
    each one's text is on one line: its content is less than one and a half line-heights tall."""
    boxes = []
    for control in controls:
        found = control.evaluate(
            """el => {
              const cs = getComputedStyle(el), box = el.getBoundingClientRect();
              const line = parseFloat(cs.lineHeight) || parseFloat(cs.fontSize) * 1.2;
              const inner = box.height - ["paddingTop", "paddingBottom", "borderTopWidth", "borderBottomWidth"]
                .reduce((sum, side) => sum + parseFloat(cs[side]), 0);
              return {top: box.top, bottom: box.bottom, right: box.right, inner, line, text: el.textContent.trim()};
            }"""
        )
        assert found["inner"] < 1.5 * found["line"], found  # not broken across lines
        assert found["right"] <= page.viewport_size["width"], found  # type: ignore[index]
        boxes.append(found)
    for box in boxes:
        middle = (box["top"] + box["bottom"]) / 2
        assert all(other["top"] <= middle <= other["bottom"] for other in boxes), boxes


@SIZES
@SCHEMES
def test_the_framed_chat_has_no_serious_axe_findings(
    new_page, live_server, sandbox, user, settings, width, height, dark
):
    settings.CREDITS = {**settings.CREDITS, "SANDBOX": True}
    conversation = chat_out_of_credits(user)
    for count in range(1, 6):  # enough for the log to scroll
        asked = Message.objects.create(conversation=conversation, role=Role.USER, text=f"Question {count}?")
        Message.objects.create(conversation=conversation, role=Role.ASSISTANT, text=f"Answer {count}.", prompt=asked)
    page = new_page(width=width, height=height, dark=dark)
    page.goto(live_server.url + conversation.get_absolute_url())
    expect(page.locator(".chat-message")).to_have_count(16)
    expect(header_balance(page)).to_have_text("$10.00")
    assert page.evaluate("(el => el.scrollHeight > el.clientHeight)(document.querySelector('[data-chat-log]'))")
    assert_no_serious_findings(page, f"framed chat {width}x{height} ({'dark' if dark else 'light'})")
