"""The credits page with its spend history: a chart drawn on the server (inline SVG), the
sentence that names it and the table of the same numbers, over 20 days of balance samples.
axe-core finds nothing serious in light or dark, and the strict CSP sees no violation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from credits.models import BalanceSample
from credits.samples import add_samples
from tests.browser.test_accessibility import SCHEMES, assert_no_serious_findings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGE = "/ui/credits/"
DAYS_SEEDED = 20
TABLE_ROWS = 30  # credits.views.CHART_DAYS: a row a day, with or without samples
EVERY = timedelta(minutes=30)
TOP_UPS = {5: 50.0, 16: 25.0}  # days into the history (the second within the line's 7 days): dollars added

# Collects what a strict CSP refuses: installed before any of the page's own scripts run.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


def seed_history(days: int = DAYS_SEEDED) -> BalanceSample:
    """``days`` of balance samples, one every 30 minutes, ending now: spend rising more in the
    working hours than at night and more on some days than others, two top-ups raising the
    credits, remaining = credits - spend (all in whole cents, as the landing sends them).
    Returns the latest sample."""
    now = timezone.now()
    start = now - timedelta(days=days)
    credits, spend_cents = 60.0, 0
    rows = []
    for i in range(days * 24 * 2 + 1):
        at = start + i * EVERY
        day, hour = divmod(i, 48)
        if hour == 0 and day in TOP_UPS:
            credits += TOP_UPS[day]
        if i:
            busy = 9 * 2 <= (at.hour * 2 + at.minute // 30) < 18 * 2
            spend_cents += (9 if busy else 2) + (day * 7 + hour) % 5 + (4 if day % 7 in (2, 3) else 0)
        spend = spend_cents / 100
        rows.append(BalanceSample(at=at, credits=credits, spend=spend, remaining=round(credits - spend, 2)))
    add_samples(rows)  # as the site records them: the first of each hour marked
    return rows[-1]


@pytest.fixture
def history(sandbox: Any) -> BalanceSample:
    """The seeded history, and the sandbox landing at its latest figures (the page reads the
    balance, which adds a sample: the same figures, so the history goes on smoothly)."""
    latest = seed_history()
    assert latest.remaining > 0
    sandbox.state.configure(credits=latest.credits, spend=latest.spend)
    return latest


def watch(page: Page) -> list[str]:
    """Console errors and CSP violations on ``page``, as lines (read after ``collected``)."""
    problems: list[str] = []
    page.add_init_script(WATCH_CSP)
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" or "Content Security Policy" in message.text
            else None
        ),
    )
    return problems


def collected(page: Page, problems: list[str]) -> list[str]:
    return problems + [f"CSP violation: {line}" for line in page.evaluate("window.__cspViolations")]


def spend_section(page: Page) -> Any:
    return page.get_by_role("main").get_by_role("region", name="Spend")


def test_the_chart_is_named_by_its_sentence_and_the_table_has_a_row_a_day(new_page, live_server, history):
    page = new_page(width=1280, height=800)
    problems = watch(page)
    page.goto(live_server.url + PAGE)
    spend = spend_section(page)
    summary = spend.locator(".credits-spend-summary")
    expect(summary).to_contain_text("spent in the last 30 days")
    sentence = summary.inner_text().strip()
    chart = spend.get_by_role("img", name=sentence, exact=True)
    expect(chart).to_be_visible()
    expect(chart).to_have_count(1)
    box = chart.bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 100, box
    expect(chart.locator(".credits-chart-bar")).to_have_count(TABLE_ROWS)
    expect(chart.locator(".credits-chart-line")).to_have_count(1)
    expect(chart.locator(".credits-chart-zero")).to_have_count(0)  # the credits never ran out
    rows = spend.get_by_role("table").locator("tbody tr")
    expect(rows).to_have_count(TABLE_ROWS)
    # The days before the history began spent nothing and have no balance; the last day ends at today's.
    expect(rows.first.get_by_role("cell").first).to_have_text("$0.00")
    expect(rows.first.get_by_role("cell").last).to_have_text("—")
    expect(rows.last.get_by_role("cell").last).to_have_text(f"${history.remaining:,.2f}")
    expect(page.get_by_role("main").get_by_role("region", name="Balance").locator(".credits-amount")).to_have_text(
        f"${history.remaining:,.2f}"
    )
    assert not collected(page, problems), collected(page, problems)


@SCHEMES
def test_axe_finds_nothing_serious_on_the_page_with_its_chart(new_page, live_server, history, dark, screenshots):
    page = new_page(dark=dark, width=1280, height=800)
    problems = watch(page)
    page.goto(live_server.url + PAGE)
    spend = spend_section(page)
    expect(spend.get_by_role("img")).to_be_visible()
    expect(spend.get_by_role("table").locator("tbody tr")).to_have_count(TABLE_ROWS)
    # The page from its top to the chart and the table's first rows, down to the last whole row within 800 px.
    bottoms = [box["y"] + box["height"] for row in spend.locator("tbody tr").all() if (box := row.bounding_box())]
    page.screenshot(
        path=str(screenshots / f"credits-page{'-dark' if dark else ''}.png"),
        clip={"x": 0, "y": 0, "width": 1280, "height": max(bottom for bottom in bottoms if bottom <= 800)},
    )
    assert_no_serious_findings(page, f"credits page with its chart ({'dark' if dark else 'light'})")
    assert not collected(page, problems), collected(page, problems)
