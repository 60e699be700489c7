"""axe-core (4.12.1, bundled by axe-playwright-python) on the site's own pages, light and dark:
no finding of impact "serious" or "critical". The Django admin's are only reported."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from chat.models import Conversation, Message, Role
from tests.browser.pages import open_menu
from tests.browser.test_admin_layout import attempts_of_every_status

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCHEMES = pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
BLOCKING = {"serious", "critical"}


@pytest.fixture(autouse=True)
def _sandbox_badge(settings: Any) -> None:
    """Every page with the header's "sandbox" badge, so its colours are checked too."""
    settings.CREDITS = {**settings.CREDITS, "SANDBOX": True}


def findings(page: Page) -> list[dict[str, Any]]:
    """One row per element axe flags: rule, impact, target selectors and its summary."""
    violations = Axe().run(page).response["violations"]
    return [
        {
            "rule": violation["id"],
            "impact": node.get("impact") or violation["impact"],
            "target": node["target"],
            "summary": node["failureSummary"],
        }
        for violation in violations
        for node in violation["nodes"]
    ]


def report(where: str, rows: list[dict[str, Any]]) -> str:
    lines = [f"{where}: {len(rows)} axe finding(s)"]
    for row in rows:
        summary = " / ".join(line.strip() for line in row["summary"].splitlines() if line.strip())
        lines.append(f"  {row['rule']} ({row['impact']}) {row['target']}: {summary}")
    return "\n".join(lines)


def assert_no_serious_findings(page: Page, where: str) -> None:
    rows = findings(page)
    print(report(where, rows))
    blocking = [row for row in rows if row["impact"] in BLOCKING]
    assert not blocking, report(where, blocking)


def chat_out_of_credits(user: Any) -> Conversation:
    """A conversation with an answer, a failed task and, last, an answer that ran out of
    credits (so it holds the inline widget): every kind of bubble, for the contrast checks."""
    conversation = Conversation.objects.create(user=user, title="Deploy logs")
    for text, flags in [
        ("Hello!", {}),
        ("The agent failed: boom", {"failed": True}),
        ("No credits available.", {"out_of_credits": True}),
    ]:
        asked = Message.objects.create(conversation=conversation, role=Role.USER, text="Check the deploy logs.")
        Message.objects.create(conversation=conversation, role=Role.ASSISTANT, text=text, prompt=asked, **flags)
    return conversation


@SCHEMES
def test_chat_with_the_inline_widget(new_page, live_server, sandbox, user, dark, screenshots):
    conversation = chat_out_of_credits(user)
    page = new_page(dark=dark)
    page.goto(live_server.url + conversation.get_absolute_url())
    expect(page.get_by_role("region", name="Credits exhausted")).to_be_visible()
    expect(page.locator(".credits--header [data-credits-amount]")).to_have_text("$10.00")
    expect(page.locator(".credits-sandbox")).to_be_visible()
    assert_no_serious_findings(page, f"chat with widget ({'dark' if dark else 'light'})")
    if dark:
        page.screenshot(path=str(screenshots / "chat-dark.png"))


@SCHEMES
def test_chat_with_the_header_menu_open(new_page, live_server, sandbox, user, dark):
    chat_out_of_credits(user)
    page = new_page(dark=dark)
    page.goto(live_server.url + "/ui/")
    expect(open_menu(page)).to_be_visible()
    assert_no_serious_findings(page, f"chat with menu open ({'dark' if dark else 'light'})")


@SCHEMES
@pytest.mark.parametrize(
    ("path", "heading"),
    [("/accounts/login/", "Log in"), ("/auth/magic-link/not-a-real-secret", "This log-in link cannot be used")],
    ids=["login", "magic-link-expired"],
)
def test_pages_for_people_logged_out(new_page, live_server, path, heading, dark):
    page = new_page(dark=dark)
    page.context.clear_cookies()
    page.goto(live_server.url + path)
    expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    assert_no_serious_findings(page, f"{path} ({'dark' if dark else 'light'})")


@SCHEMES
def test_the_admin_audit_is_reported_only(new_page, live_server, user, dark):
    """Django's own templates: the findings are printed for the record, never failed on."""
    attempts_of_every_status(user)
    user.is_staff = user.is_superuser = True
    user.save()
    page = new_page(dark=dark, width=1280, height=800)
    page.goto(live_server.url + "/admin/credits/topupattempt/")
    expect(page.locator("#result_list tbody tr")).to_have_count(14)
    print(report(f"admin topupattempt changelist ({'dark' if dark else 'light'}), not failed on", findings(page)))
