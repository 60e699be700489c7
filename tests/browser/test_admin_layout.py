"""The audit's changelist at 1280 by 800: the results table fits its box, no cell breaks inside a
word, one line per status, and the source and the landing's code beside the status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from credits.models import SettledBy, Source, Status, TopupAttempt

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def attempts_of_every_status(user: Any) -> None:
    """Two attempts of each status, with what each kind carries in real life, from every source."""
    now = timezone.now()
    rows: list[dict[str, Any]] = [
        {"status": Status.PENDING, "source": Source.HEADER, "settle_at": now + timedelta(seconds=30)},
        {"status": Status.SUCCEEDED, "landing_status": 200, "duration_ms": 412, "source": Source.INLINE},
        {
            "status": Status.SUCCEEDED,
            "first_status": Status.UNKNOWN,
            "settled_by": SettledBy.NEXT_TOPUP,
            "settle_tries": 3,
            "landing_status": 200,
            "duration_ms": 20012,
            "source": Source.AUTO,
        },
        {
            "status": Status.DECLINED,
            "landing_status": 402,
            "error_code": "card_declined",
            "duration_ms": 1234,
            "source": Source.API,
        },
        {
            "status": Status.ERROR,
            "landing_status": 503,
            "error_code": "upstream_error",
            "duration_ms": 87,
            "source": Source.WARNING,
        },
        {
            "status": Status.UNKNOWN,
            "first_status": Status.UNKNOWN,
            "needs_operator": True,
            "error_code": "upstream_timeout",
            "duration_ms": 20003,
            "source": Source.FORM,
        },
        {"status": Status.REFUSED, "error_code": "rate_limited", "source": Source.HEADER},
    ]
    assert {row["source"] for row in rows} == set(Source) and {row["status"] for row in rows} == set(Status)
    for n, row in enumerate(rows * 2):
        TopupAttempt.objects.create(
            user=user, amount_cents=(n % 4 + 1) * 12_500, idempotency_key=f"k{n}", upstream_key=f"reef-k{n}", **row
        )


# Every word in the table (a text node's run between spaces) whose boxes lie on more than one line,
# with its cell's class; and every cell whose content is wider than its box.
SPLIT_WORDS = """t => {
    const split = [];
    const walker = document.createTreeWalker(t, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (const match of node.data.matchAll(/\\S+/g)) {
            const range = document.createRange();
            range.setStart(node, match.index);
            range.setEnd(node, match.index + match[0].length);
            const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
            if (tops.size > 1) split.push([node.parentElement.closest('td, th').className, match[0]]);
        }
    }
    return split;
}"""
OVERFLOWING_CELLS = """t => [...t.querySelectorAll('td, th')]
    .filter(c => c.scrollWidth > c.clientWidth)
    .map(c => [c.className, c.textContent.trim(), c.scrollWidth, c.clientWidth])"""


def test_the_changelist_fits_1280x800_without_breaking_a_word(
    new_page, live_server, user, django_user_model, screenshots
):
    operator = django_user_model.objects.create_user("grace.hopper.operator", "grace@example.com", "pw-grace-123")
    attempts_of_every_status(operator)
    demo = django_user_model.objects.create_user("demo")  # a short name was broken as "dem/o"
    for n, (landing_status, code) in enumerate([(401, "upstream_auth"), (None, "upstream_unreachable")]):
        TopupAttempt.objects.create(
            user=demo,
            amount_cents=1000,
            idempotency_key=f"demo{n}",
            upstream_key=f"reef-demo{n}",
            status=Status.ERROR,
            error_code=code,
            landing_status=landing_status,
            source=Source.INLINE,
        )
    user.is_staff = user.is_superuser = True
    user.save()
    page = new_page(width=1280, height=800)
    page.goto(live_server.url + "/admin/credits/topupattempt/")
    table = page.locator("#result_list")
    expect(table.locator("tbody tr")).to_have_count(16)
    page.screenshot(path=str(screenshots / "admin-audit.png"), full_page=True)  # first, to see a failure

    widths = table.evaluate("t => ({table: t.scrollWidth, box: t.closest('.results').clientWidth})")
    assert widths["table"] <= widths["box"], widths
    assert table.evaluate(SPLIT_WORDS) == []
    assert table.evaluate(OVERFLOWING_CELLS) == []

    # The source and what was answered, beside the status; the full labels and the message on hover.
    headers = table.locator("thead th").all_inner_texts()
    status = [h.strip().lower() for h in headers].index("status")
    assert [h.strip().lower() for h in headers[status - 1 : status + 2]] == ["source", "status", "code"]
    sources = table.locator("td.field-source_label").all_inner_texts()
    assert set(sources) == {"header", "inline", "warning", "form", "auto", "API"}
    codes = table.locator("td.field-code").all_inner_texts()
    assert {
        "402 card_declined",
        "503 upstream_error",
        "upstream_timeout",
        "rate_limited",
        "401 upstream_auth",
        "upstream_unreachable",
    } <= {" ".join(code.split()) for code in codes}
    assert table.locator("td.field-source_label span[title='Low-credits warning']").count() == 2
    expect(table.locator("td.field-who").filter(has_text="grace.hopper.operator").first).to_be_visible()

    line = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#result_list td')).lineHeight)")
    heights = table.locator("td.field-status_label > *:first-child").evaluate_all(
        "spans => spans.map(s => s.getBoundingClientRect().height)"
    )
    assert len(heights) == 16 and max(heights) < 1.5 * line, (heights, line)
