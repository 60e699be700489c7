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


def test_rendering_makes_three_queries_and_no_landing_call(django_assert_num_queries, user):
    """Three queries for the whole page, however many widgets: the user's top-up still in flight,
    and for the header's forecast the last day's hourly balance samples and the newest."""
    request = RequestFactory().get("/")
    request.user = user
    with override_transport(httpx.MockTransport(refuse)), django_assert_num_queries(3):
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


# --- the app's stylesheet and script: once per page, with the CSP nonce ------------------------

BODY = PAGE.removeprefix("{% load credits %}")
CSS = re.compile(r'<link rel="stylesheet" href="/static/credits/credits\.css"([^>]*)>')
JS = re.compile(r'<script src="/static/credits/credits\.js" defer([^>]*)></script>')


def assets_in(html: str) -> tuple[list[str], list[str]]:
    """The extra attributes of each of the app's <link> and <script> on the page."""
    return CSS.findall(html), JS.findall(html)


def test_two_widgets_and_the_header_get_the_assets_once():
    # PAGE is a host that follows the installing steps as they were: no {% credits_assets %}
    html = render()
    assert assets_in(html) == ([""], [""])
    assert html.count("credits.css") == html.count("credits.js") == 1
    assert html.index("credits.css") < html.index("data-credits-amount")  # the first widget carries them


def test_credits_assets_in_the_head_writes_them_there_and_no_widget_again():
    html = render("{% load credits %}<head>{% credits_assets %}{% credits_assets %}</head><body>" + BODY + "</body>")
    head = html[: html.index("</head>")]
    assert assets_in(head) == ([""], [""])
    assert assets_in(html) == ([""], [""])


def test_without_a_request_the_page_still_gets_them_once():
    # the render context is shared by the page, its includes and the tags' own templates
    html = Template(PAGE).render(Context({}))
    assert assets_in(html) == ([""], [""])
    html = Template("{% load credits %}{% credits_assets %}" + BODY).render(Context({}))
    assert assets_in(html) == ([""], [""]) and html.startswith("<link")
    # each page is a render of its own
    assert assets_in(Template(PAGE).render(Context({}))) == ([""], [""])


def test_with_a_csp_nonce_on_the_request_both_carry_it():
    from csp.middleware import CSPMiddleware

    request = RequestFactory().get("/")
    CSPMiddleware(lambda request: None).process_request(request)  # request.csp_nonce, lazy as in a site
    html = render(request=request)
    nonce = request._csp_nonce  # read while rendering, so it goes into the header
    assert nonce and assets_in(html) == ([f' nonce="{nonce}"'], [f' nonce="{nonce}"'])
    head = Template("{% load credits %}{% credits_assets %}").render(Context({"CSP_NONCE": "from-the-processor"}))
    assert assets_in(head) == ([' nonce="from-the-processor"'], [' nonce="from-the-processor"'])


def test_the_tags_are_inclusion_tags_with_templates_a_host_can_override(settings):
    from django.template.library import InclusionNode

    nodes = Template(
        "{% load credits %}{% credits_assets %}{% credits_sandbox_badge %}{% credits_button %}{% credits_inline_widget %}"
    ).nodelist.get_nodes_by_type(InclusionNode)
    assert [node.filename for node in nodes] == [
        "credits/assets.html",
        "credits/sandbox_badge.html",
        "credits/button.html",
        "credits/_inline.html",
    ]
    overrides = {
        "credits/_inline.html": "<aside data-mine>{{ title_tag }} {{ presets.0.label }} {{ uid }}</aside>",
        "credits/button.html": '<nav data-mine>{{ page_url }}|{% include "credits/assets.html" %}</nav>',
        "credits/assets.html": "{% if assets %}[assets {{ nonce }}]{% endif %}",
    }
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                "loaders": [
                    ("django.template.loaders.locmem.Loader", overrides),
                    "django.template.loaders.app_directories.Loader",
                ],
            },
        }
    ]
    request = RequestFactory().get("/")
    request.csp_nonce = "n0nce"
    html = render(
        '{% load credits %}{% credits_button page_url="/p/" %}{% include "credits/inline_widget.html" with credits_heading_level=2 %}'
        "{% credits_inline_widget heading_level=0 %}",
        request,
    )
    assert html.startswith("<nav data-mine>/p/|[assets n0nce]</nav>")
    assert html.count("[assets") == 1
    assert re.findall(r"<aside data-mine>(\w+) (\$\d+) credits-\w+</aside>", html) == [("h2", "$5"), ("p", "$5")]
