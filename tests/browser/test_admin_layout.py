"""The audit's changelist at 1280 by 800: the results table fits its box, one line per status."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from credits.models import SettledBy, Source, Status, TopupAttempt

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def attempts_of_every_status(user: Any) -> None:
    """Two attempts of each status, with what each kind carries in real life."""
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
        {"status": Status.DECLINED, "landing_status": 402, "error_code": "card_declined", "duration_ms": 1234},
        {"status": Status.ERROR, "landing_status": 503, "error_code": "upstream_error", "duration_ms": 87},
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
    for n, row in enumerate(rows * 2):
        TopupAttempt.objects.create(
            user=user, amount_cents=(n % 4 + 1) * 12_500, idempotency_key=f"k{n}", upstream_key=f"reef-k{n}", **row
        )


def test_the_changelist_fits_1280x800_with_one_line_statuses(
    new_page, live_server, user, django_user_model, screenshots
):
    operator = django_user_model.objects.create_user("grace.hopper.operator", "grace@example.com", "pw-grace-123")
    attempts_of_every_status(operator)
    user.is_staff = user.is_superuser = True
    user.save()
    page = new_page(width=1280, height=800)
    page.goto(live_server.url + "/admin/credits/topupattempt/")
    table = page.locator("#result_list")
    expect(table.locator("tbody tr")).to_have_count(14)
    page.screenshot(path=str(screenshots / "admin-audit.png"), full_page=True)  # first, to see a failure

    widths = table.evaluate("t => ({table: t.scrollWidth, box: t.closest('.results').clientWidth})")
    assert widths["table"] <= widths["box"], widths

    line = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#result_list td')).lineHeight)")
    heights = table.locator("td.field-status_label > *:first-child").evaluate_all(
        "spans => spans.map(s => s.getBoundingClientRect().height)"
    )
    assert len(heights) == 14 and max(heights) < 1.5 * line, (heights, line)
