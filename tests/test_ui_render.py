"""Rendering the header button and the inline widget: no query, no landing call, reversed URLs."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from django.template import Context, Template
from django.test import RequestFactory

from credits.testing import override_transport

pytestmark = pytest.mark.django_db

PAGE = """{% load credits %}<header>{% credits_sandbox_badge %}{% credits_button %}</header>
<article>{% include "credits/inline_widget.html" %}</article><article>{% credits_inline_widget %}</article>"""


def render(source: str = PAGE, request: Any = None) -> str:
    if request is None:
        request = RequestFactory().get("/ui/chat?x=1")
    return Template(source).render(Context({"request": request}))


def refuse(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"rendering called the landing: {request.url}")


def test_rendering_makes_no_query_and_no_landing_call(django_assert_num_queries, user):
    request = RequestFactory().get("/")
    request.user = user
    with override_transport(httpx.MockTransport(refuse)), django_assert_num_queries(0):
        html = render(request=request)
    assert html.count('data-credits="inline"') == 2
    assert html.count('data-credits="header"') == 1


def test_the_controls_have_the_contracts_names_and_unique_ids():
    html = render()
    assert ">+ credits</button>" in html
    assert 'aria-expanded="false"' in html
    for label in ("$5", "$10", "$25", "$50"):
        assert html.count(f">{label}</button>") == 3
    assert html.count(">Credits exhausted</h3>") == 2
    assert html.count('role="status"') == 3
    assert html.count(">Custom amount</label>") == 3
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)) >= 9
    for target in re.findall(r'(?:aria-controls|aria-labelledby|aria-describedby|for)="([^"]+)"', html):
        assert target in ids
    amount = re.search(r"<input[^>]*name=\"amount\"[^>]*>", html)
    assert amount is not None
    for attribute in ('type="number"', 'inputmode="numeric"', 'step="1"', 'min="5"', 'max="1000"'):
        assert attribute in amount.group(0)


def test_each_form_carries_csrf_a_key_of_its_own_and_the_page_to_come_back_to():
    html = render()
    assert html.count('name="csrfmiddlewaretoken"') == 6
    keys = re.findall(r'name="key" value="([0-9a-f]{32})"', html)
    assert len(keys) == 6 == len(set(keys))
    assert html.count('name="next" value="/ui/chat?x=1"') == 6


def test_urls_are_reversed_so_another_prefix_works(settings):
    html = render()
    assert 'data-topup-url="/ui/api/topup-credits"' in html
    assert 'action="/ui/api/topup-form"' in html
    settings.ROOT_URLCONF = "tests.hostsite.urls"
    html = render()
    assert "/ui/api/" not in html
    assert 'data-topup-url="/billing/api/topup-credits"' in html
    assert 'data-balance-url="/billing/api/credits"' in html
    assert 'data-recent-url="/billing/api/recent-topups"' in html
    assert 'action="/billing/api/topup-form"' in html


def test_presets_range_and_threshold_come_from_settings(settings):
    settings.CREDITS = {
        **settings.CREDITS,
        "PRESET_AMOUNTS_CENTS": [1000, 2000, 150, 999_900],  # the two that break the rules are left out
        "MIN_AMOUNT_CENTS": 1000,
        "MAX_AMOUNT_CENTS": 20000,
        "LOW_BALANCE_DOLLARS": 12.5,
        "RECENT_TOPUPS": 0,
    }
    html = render()
    assert re.findall(r'data-amount-cents="(\d+)"', html) == ["1000", "2000"] * 3
    assert 'min="10"' in html and 'max="200"' in html
    assert "Whole dollars, $10 to $200." in html
    assert 'data-low-balance="12.5"' in html
    assert "data-credits-recent" not in html


def test_the_scripts_sentences_are_translated_json():
    html = render()
    raw = re.search(r'data-text="([^"]+)"', html)
    assert raw is not None
    import html as htmllib

    text = json.loads(htmllib.unescape(raw.group(1)))
    assert text["added"] == "Added %(amount)s"
    assert text["range"] == "A top-up must be from $5 to $1,000."


def test_without_a_request_it_still_renders():
    html = Template("{% load credits %}{% credits_button %}").render(Context({}))
    assert "csrfmiddlewaretoken" not in html
    assert ">+ credits</button>" in html


def test_the_sandbox_badge_only_in_sandbox_mode(settings):
    assert "credits-sandbox" not in render("{% load credits %}{% credits_sandbox_badge %}")
    settings.CREDITS = {**settings.CREDITS, "SANDBOX": True}
    assert ">sandbox</span>" in render("{% load credits %}{% credits_sandbox_badge %}")
