"""Seeing it coming: the spend history's JSON (``GET spend``), the forecast sentence in the
header's menu, the credits page's chart (inline SVG drawn on the server, a sentence and a
table), and the chart's drawing (``credits.charts``)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from credits import charts
from credits.models import BalanceSample
from credits.samples import record_sample

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)
SPEND = reverse("credits:spend")
PAGE = "/ui/credits/"
HEADER = "{% load credits %}{% credits_button %}"


def sample(at: Any, spend: float, credits: float = 20.0) -> BalanceSample:
    """A reading recorded as the site records one (the first of its hour marked ``hourly``)."""
    assert record_sample({"credits": credits, "spend": spend, "remaining": credits - spend}, at)
    return BalanceSample.objects.get(at=at)


def spent_over_the_last_hours(hours: int = 4, per_hour: float = 1.0, credits: float = 20.0) -> None:
    """A reading an hour for ``hours`` hours up to now, ``per_hour`` dollars spent each hour."""
    now = timezone.now()
    for back in range(hours, -1, -1):
        sample(now - back * H, (hours - back) * per_hour, credits)


@pytest.fixture
def browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def header(user: Any) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return Template(HEADER).render(Context({"request": request}))


# --- GET spend -----------------------------------------------------------------------------------


def test_spend_answers_the_days_the_rate_and_the_forecast(browser):
    spent_over_the_last_hours(4, per_hour=1.0, credits=20.0)  # $16 remain, $1 an hour
    response = browser.get(SPEND)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"days", "rate", "forecast"}
    assert len(body["days"]) == 30
    dates = [day["date"] for day in body["days"]]
    assert dates == sorted(dates) and dates[-1] == timezone.localdate().isoformat()
    assert sum(day["spend"] for day in body["days"]) == pytest.approx(4.0)
    assert body["rate"]["perHour"] == pytest.approx(1.0)
    assert body["rate"]["windowHours"] == pytest.approx(4.0)
    assert body["forecast"]["state"] == "forecast"
    assert body["forecast"]["hoursLeft"] == pytest.approx(16.0)
    assert body["forecast"]["phrase"] == "About 16 hours left at the rate of the last 4 hours."


def test_spend_takes_days_from_1_to_90(browser):
    assert len(browser.get(SPEND, {"days": "1"}).json()["days"]) == 1
    assert len(browser.get(SPEND, {"days": "90"}).json()["days"]) == 90
    for bad in ("0", "91", "x", "", "-1", "7.0", " 7"):
        response = browser.get(SPEND, {"days": bad})
        assert response.status_code == 400, bad
        body = response.json()
        assert body["code"] == "invalid_days" and "1 to 90" in body["error"]


def test_spend_without_a_log_in_is_a_json_401(client):
    response = client.get(SPEND)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_spend_without_history_has_no_rate(browser):
    body = browser.get(SPEND, {"days": "7"}).json()
    assert [day["spend"] for day in body["days"]] == [0.0] * 7
    assert body["rate"] is None
    assert body["forecast"] == {"state": "unknown", "phrase": "Too little recent spend history for a forecast."}


def test_a_landing_reset_is_a_gap_not_negative_spend(browser):
    now = timezone.now()
    sample(now - 4 * H, 0.0)
    sample(now - 3 * H, 3.0)  # $3 in an hour
    sample(now - 2 * H, 0.5, credits=10.0)  # the landing was reset: the stretch is a gap
    sample(now - 1 * H, 1.5, credits=10.0)  # $1 in an hour
    sample(now, 2.5, credits=10.0)  # $1 in an hour
    body = browser.get(SPEND, {"days": "2"}).json()
    assert all(day["spend"] >= 0 for day in body["days"])
    assert sum(day["spend"] for day in body["days"]) == pytest.approx(5.0)
    assert body["rate"]["windowHours"] == pytest.approx(3.0)  # the gap's hour left out
    assert body["rate"]["perHour"] == pytest.approx(5.0 / 3)
    assert body["forecast"]["remaining"] == pytest.approx(7.5)
    assert body["forecast"]["hoursLeft"] == pytest.approx(7.5 / (5.0 / 3))


def test_spend_days_are_the_sites_time_zone(browser, settings):
    settings.TIME_ZONE = "Pacific/Kiritimati"  # UTC+14: its day is rarely the UTC day
    spent_over_the_last_hours(2)
    days = browser.get(SPEND, {"days": "3"}).json()["days"]
    assert days[-1]["date"] == timezone.now().astimezone(ZoneInfo("Pacific/Kiritimati")).date().isoformat()


# --- the header's forecast -----------------------------------------------------------------------


def test_the_header_says_the_forecast_with_a_history(user, django_assert_max_num_queries):
    spent_over_the_last_hours(4, per_hour=1.0, credits=20.0)
    with django_assert_max_num_queries(3):  # the top-up in flight, the last day's hourly samples and the newest
        html = header(user)
    found = re.search(r'<p class="credits-forecast" data-credits-forecast>([^<]*)</p>', html)
    assert found is not None
    assert found.group(1) == "About 16 hours left at the rate of the last 4 hours."


def test_the_header_says_nothing_of_a_forecast_without_one(user, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        html = header(user)
    assert "data-credits-forecast" not in html
    sample(timezone.now() - 10 * timedelta(minutes=1), 0.0)  # ten minutes: too little to say
    sample(timezone.now(), 1.0)
    assert "data-credits-forecast" not in header(user)


def test_the_inline_widgets_ask_nothing_more_for_the_forecast(user, django_assert_num_queries):
    spent_over_the_last_hours(2)
    request = RequestFactory().get("/")
    request.user = user
    page = HEADER + '{% include "credits/inline_widget.html" %}{% credits_inline_widget %}'
    with django_assert_num_queries(3):
        html = Template(page).render(Context({"request": request}))
    assert html.count("data-credits-forecast") == 1


# --- the credits page ----------------------------------------------------------------------------


def test_the_page_draws_the_history_and_says_it_in_a_sentence_and_a_table(browser):
    spent_over_the_last_hours(4, per_hour=1.0, credits=20.0)
    html = browser.get(PAGE).content.decode()
    svg = re.search(r"<svg [^>]*>", html)
    assert svg is not None
    assert 'role="img"' in svg.group(0)
    labelledby = re.search(r'aria-labelledby="([^"]+)"', svg.group(0))
    assert labelledby is not None
    summary = re.search(rf'<p class="credits-spend-summary" id="{labelledby.group(1)}">([^<]*)</p>', html)
    assert summary is not None
    assert summary.group(1) == "$4.00 spent in the last 30 days; about 16 hours left at the rate of the last 4 hours."
    assert html.count('<rect class="credits-chart-bar"') == 30
    assert '<polyline class="credits-chart-line"' in html
    table = html[html.index('<table class="credits-table">') : html.index("</table>")]
    assert "<caption>" in table
    assert table.count('<th scope="col">') == 3
    assert table.count('<th scope="row">') == 30
    today = timezone.localdate().isoformat()
    assert re.search(rf'<time datetime="{today}">[^<]*</time></th><td>\$4.00</td><td>\$16.00</td>', table)
    assert "style=" not in html[html.index("<svg") : html.index("</svg>")]  # CSP: classes only
    # the header's forecast came from the page's samples: the same sentence, no query of its own
    assert "About 16 hours left at the rate of the last 4 hours." in html


def test_the_page_without_history_says_so_and_draws_no_made_up_zero(browser):
    html = browser.get(PAGE).content.decode()
    assert "No spend history yet" in html
    assert "<svg" not in html and "<table" not in html and "$0.00" not in html


# --- credits.charts ------------------------------------------------------------------------------


def test_the_bars_scale_to_the_largest():
    assert charts.bar_heights([1.0, 2.0, 4.0, 0.0], 100) == [25.0, 50.0, 100.0, 0.0]
    svg = charts.chart([1.0, 4.0], [], labelledby="s", spend_label="a", remaining_label="b")
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([0-9.]+)"', svg)]
    assert heights == [charts.PLOT / 4, charts.PLOT]


def test_an_empty_history_draws_empty_panels():
    assert charts.bar_heights([], 100) == []
    assert charts.bar_heights([0.0, 0.0], 100) == [0.0, 0.0]
    svg = charts.chart([], [], labelledby="s", spend_label="Spend", remaining_label="Left")
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert "<rect" not in svg and "<polyline" not in svg and "credits-chart-zero" not in svg
    assert 'role="img"' in svg and 'aria-labelledby="s"' in svg


def test_a_negative_remaining_goes_below_the_zero_line():
    points, zero = charts.line_points([(0.0, 10.0), (0.5, 0.0), (1.0, -10.0)], 100)
    assert zero == 50.0
    assert points == [(0.0, 0.0), (charts.WIDTH / 2, 50.0), (charts.WIDTH, 100.0)]
    svg = charts.chart([], [(0.0, 10.0), (1.0, -10.0)], labelledby="s", spend_label="a", remaining_label="b")
    assert "credits-chart-zero" in svg
    positive, zero = charts.line_points([(0.0, 10.0), (1.0, 5.0)], 100)
    assert zero == 100.0 and positive[0] == (0.0, 0.0)  # all above zero: zero is the bottom


def test_the_chart_escapes_its_words():
    svg = charts.chart([1.0], [(0.0, 1.0)], labelledby='x"y', spend_label="<b>", remaining_label="&")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and 'aria-labelledby="x&quot;y"' in svg
    assert '<circle class="credits-chart-dot"' in svg  # one reading: a dot, not an empty line
