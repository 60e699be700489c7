"""Without JavaScript: the credits page (/ui/credits/), the header's link to it and its
server-side balance, the inline widget's heading level, and when the chat offers Continue."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.core.cache import cache, caches
from django.template import Context, Template, TemplateSyntaxError
from django.test import Client, RequestFactory
from django.urls import include, path
from django.utils import timezone

from chat.models import Conversation, Message, Role
from chat.views import continue_ready
from credits.balance import CACHE_KEY
from credits.models import Source, Status, TopupAttempt
from credits.testing import override_transport
from credits.views import credits_page

pytestmark = pytest.mark.django_db

PAGE = "/ui/credits/"
UNREADABLE = "The balance cannot be read from the billing service right now."


@pytest.fixture
def browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def refuse(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"the landing was called: {request.url}")


def header_of(html: str) -> str:
    return html[html.index('<header class="site-header">') : html.index("</header>")]


def attempt(user: Any, status: str = Status.SUCCEEDED, *, finished: Any = None, **fields: Any) -> TopupAttempt:
    return TopupAttempt.objects.create(
        user=user,
        amount_cents=1000,
        source=Source.FORM,
        idempotency_key=uuid.uuid4().hex,
        status=status,
        finished_at=finished or timezone.now(),
        **fields,
    )


# --- the credits page ----------------------------------------------------------------------------


def test_the_page_needs_a_log_in_and_only_reads(client, browser):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/ui/credits/"
    # A POST is the auto top-up's own form (round 2): without the permission it changes nothing.
    from credits.models import AutoTopup

    refused = browser.post(PAGE, {"enabled": "on", "threshold": "5", "amount": "25", "monthly_cap": "100"})
    assert refused.status_code == 302
    assert not AutoTopup.objects.filter(enabled=True).exists()
    assert browser.put(PAGE).status_code == 405


def test_with_the_landing_down_the_page_says_so_and_still_offers_the_amounts(browser, settings):
    # tests/settings.py points the landing at a closed port
    response = browser.get(PAGE)
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")  # never_cache: the balance is live
    html = response.content.decode()
    assert UNREADABLE in html and "Reload the page to try again." in html
    assert "$0.00" not in html  # never a made-up zero
    for label in ("$5", "$10", "$25", "$50"):
        assert f">{label}</button>" in html
    assert ">Custom amount</label>" in html
    assert 'action="/ui/api/topup-form"' in html
    main = html[html.index("<main") :]
    assert main.count('name="next" value="/ui/credits/"') == 2  # the page's two forms come back here
    assert settings.TEST_TOKEN not in html
    assert "Bearer" not in html


def test_without_a_token_the_page_says_top_ups_are_not_set_up(browser, settings):
    settings.CREDITS = {**settings.CREDITS, "AUTH_TOKEN": ""}
    html = browser.get(PAGE).content.decode()
    assert "The balance is not available: top-ups are not set up on this site." in html


def test_the_page_reads_the_balance_once_and_shows_it(browser, sandbox, settings):
    sandbox.state.configure(credits=12.5, spend=2.5)
    html = browser.get(PAGE).content.decode()
    balance = re.search(r'<p class="credits-page-balance[^"]*">(.*?)</p>', html)
    assert balance is not None and '<span class="credits-amount">$10.00</span>' in balance.group(1)
    assert "$12.50 bought in total, $2.50 used" in html
    assert UNREADABLE not in html
    assert settings.TEST_TOKEN not in html
    # the next page view, and the header, take it from the cache: no second landing call
    with override_transport(httpx.MockTransport(refuse)):
        again = browser.get(PAGE).content.decode()
    assert '<span class="credits-amount">$10.00</span>' in again


def test_a_low_and_a_negative_balance_are_said_as_they_are(browser, settings):
    cache.set(CACHE_KEY, {"credits": 10.0, "spend": 12.0, "remaining": -2.0}, 60)
    with override_transport(httpx.MockTransport(refuse)):
        html = browser.get(PAGE).content.decode()
    assert "credits-balance--low" in html and "-$2.00" in html and "Low balance" in html


def test_the_page_lists_only_the_users_own_recent_top_ups(browser, user, other_user, settings):
    cache.set(CACHE_KEY, {"credits": 10.0, "spend": 0.0, "remaining": 10.0}, 60)
    html = browser.get(PAGE).content.decode()
    assert "No top-ups yet." in html
    attempt(user, Status.SUCCEEDED)
    attempt(user, Status.DECLINED, error_message="Your card was declined (sandbox).")
    attempt(user, Status.UNKNOWN)
    TopupAttempt.objects.create(
        user=other_user, amount_cents=7700, idempotency_key="bob-1", status=Status.SUCCEEDED, source=Source.FORM
    )
    html = browser.get(PAGE).content.decode()
    recent = html[html.rindex("Your recent top-ups") :]  # the page's list, after the header menu's
    assert recent.count('<li class="credits-item') == 3
    assert (
        "Succeeded" in recent and 'title="Your card was declined (sandbox).">Declined by the billing service<' in recent
    )
    assert "Checking…" in recent and "reload the page to see its outcome" in recent
    assert "$77" not in recent  # bob's
    settings.CREDITS = {**settings.CREDITS, "RECENT_TOPUPS": 0}
    assert "Your recent top-ups" not in browser.get(PAGE).content.decode()


def test_the_page_says_what_auto_top_up_does(browser, settings):
    from credits.models import AutoTopup

    cache.set(CACHE_KEY, {"credits": 10.0, "spend": 0.0, "remaining": 10.0}, 60)
    off = browser.get(PAGE).content.decode()
    assert "Off: credits are only added by hand. Ask a team member who manages auto top-up to change it." in off
    AutoTopup.objects.update_or_create(
        pk=1, defaults={"enabled": False, "disabled_reason": "Three top-ups failed: card declined."}
    )
    html = browser.get(PAGE).content.decode()
    assert "Auto top-up was turned off: Three top-ups failed: card declined." in html
    AutoTopup.objects.filter(pk=1).update(
        enabled=True, disabled_reason="", threshold_cents=500, amount_cents=2500, monthly_cap_cents=10000
    )
    html = browser.get(PAGE).content.decode()
    assert "On: when the balance falls below $5, $25 is added, at most $100 a month." in html


def test_a_user_without_the_permission_sees_who_to_ask_and_no_amounts(browser, settings):
    settings.CREDITS = {**settings.CREDITS, "TOPUP_PERMISSION": "credits.top_up", "TOPUP_CONTACT": "Ask Ada."}
    cache.set(CACHE_KEY, {"credits": 10.0, "spend": 0.0, "remaining": 10.0}, 60)
    html = browser.get(PAGE).content.decode()
    assert "Ask Ada." in html and ">$10</button>" not in html and "$10.00" in html


def test_the_page_has_one_h1_then_h2s(browser):
    html = browser.get(PAGE).content.decode()
    levels = re.findall(r"<h([1-6])[\s>]", html)
    assert levels[0] == "1" and levels.count("1") == 1 and set(levels[1:]) == {"2"}


# --- the header on every page --------------------------------------------------------------------


def test_the_header_links_to_the_page_without_javascript_and_calls_no_landing(browser):
    with override_transport(httpx.MockTransport(refuse)):
        html = browser.get("/ui/").content.decode()
    header = header_of(html)
    assert '<noscript><a class="credits-link" href="/ui/credits/">+ credits</a></noscript>' in header
    assert ">+ credits</button>" in header and "credits--linked" in header  # the menu, for JavaScript
    assert not re.search(r"<h[1-6]", header)  # the menu's titles are labels: the page's h1 comes first
    assert '<span class="credits-amount" data-credits-amount>—</span>' in header  # nothing cached: no wait
    assert "credits-balance--cached" not in header
    on_page = header_of(browser.get(PAGE).content.decode())
    assert 'href="/ui/credits/" aria-current="page"' in on_page


def test_the_header_shows_a_cached_balance_at_once(browser):
    cache.set(CACHE_KEY, {"credits": 1234.5, "spend": 1230.0, "remaining": 4.5}, 60)
    with override_transport(httpx.MockTransport(refuse)):
        header = header_of(browser.get("/ui/").content.decode())
    assert '<span class="credits-amount" data-credits-amount>$4.50</span>' in header
    assert "credits-balance--cached credits-balance--low" in header and "Low balance" in header
    assert 'title="$1,234.50 bought in total, $1,230.00 used"' in header


def test_a_cache_that_fails_is_no_balance_not_an_error_page(browser, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache server down")

    monkeypatch.setattr(type(caches["default"]), "get", broken)
    response = browser.get("/ui/")
    assert response.status_code == 200
    assert '<span class="credits-amount" data-credits-amount>—</span>' in header_of(response.content.decode())


def test_a_host_without_the_page_keeps_the_menu_in_place(settings):
    settings.ROOT_URLCONF = "tests.hostsite.urls"
    html = Template("{% load credits %}{% credits_button %}").render(Context({"request": RequestFactory().get("/")}))
    assert "credits-link" not in html and "credits--linked" not in html
    settings.ROOT_URLCONF = "reef_site.urls"
    html = Template("{% load credits %}{% credits_button %}").render(Context({"request": RequestFactory().get("/")}))
    assert 'href="/ui/credits/"' in html
    named = Template('{% load credits %}{% credits_button page_url="/billing/" %}').render(Context({}))
    assert 'href="/billing/"' in named
    none = Template('{% load credits %}{% credits_button page_url="" %}').render(Context({}))
    assert "credits-link" not in none


def test_the_header_reverses_the_documented_name_of_the_credits_page(settings):
    # a host that mounts the page where it likes, under the namespace credits/page_urls.py gives it
    settings.ROOT_URLCONF = "tests.test_no_javascript_views"

    def header(path: str = "/", **tag: str) -> str:
        arguments = "".join(f' {name}="{value}"' for name, value in tag.items())
        source = "{% load credits %}{% credits_button" + arguments + " %}"
        return Template(source).render(Context({"request": RequestFactory().get(path)}))

    html = header()
    assert '<noscript><a class="credits-link" href="/account/top-up/">+ credits</a></noscript>' in html
    assert "credits--linked" in html
    assert 'href="/account/top-up/" aria-current="page"' in header("/account/top-up/")
    assert 'href="/elsewhere/"' in header(page_url="/elsewhere/")  # page_url= still overrides
    assert "credits-link" not in header(page_url="")


urlpatterns = [
    path("billing/api/", include("credits.urls")),
    path("account/top-up/", include(([path("", credits_page, name="page")], "credits_pages"))),
]


# --- the inline widget's heading -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "tag"),
    [
        ("{% credits_inline_widget %}", "h3"),
        ("{% credits_inline_widget heading_level=2 %}", "h2"),
        ("{% credits_inline_widget heading_level=0 %}", "p"),
        ('{% include "credits/inline_widget.html" %}', "h3"),
        ('{% include "credits/inline_widget.html" with credits_heading_level=4 %}', "h4"),
    ],
)
def test_the_inline_widgets_title_takes_the_level_it_is_given(source, tag):
    html = Template("{% load credits %}" + source).render(Context({}))
    title = re.search(r'<(\w+) class="credits-title" id="([^"]+)">Credits exhausted</(\w+)>', html)
    assert title is not None and title.group(1) == title.group(3) == tag
    assert f'aria-labelledby="{title.group(2)}"' in html  # the region keeps its name


def test_a_wrong_heading_level_is_a_template_error():
    with pytest.raises(TemplateSyntaxError, match="heading_level"):
        Template("{% load credits %}{% credits_inline_widget heading_level=7 %}").render(Context({}))


# --- Continue without JavaScript -----------------------------------------------------------------


@pytest.fixture
def stopped(user: Any) -> Message:
    conversation = Conversation.objects.create(user=user, title="Deploy logs")
    asked = Message.objects.create(conversation=conversation, role=Role.USER, text="Check the deploy logs.")
    return Message.objects.create(
        conversation=conversation, role=Role.ASSISTANT, text="No credits available.", prompt=asked, out_of_credits=True
    )


def continue_form(html: str) -> str:
    found = re.search(r'<form class="chat-continue"[^>]*>', html)
    assert found is not None
    return found.group(0)


def test_before_a_top_up_continue_is_hidden_and_the_message_says_to_add_credits(browser, stopped):
    html = browser.get(stopped.conversation.get_absolute_url()).content.decode()
    form = continue_form(html)
    assert " hidden" in form and "data-chat-after-topup" in form
    assert '<noscript><p class="chat-note chat-add-first">Add credits first' in html
    assert re.search(r'<h2 class="credits-title" id="[^"]+">Credits exhausted</h2>', html)


def test_after_a_top_up_by_anyone_on_the_team_continue_is_offered(browser, stopped, other_user):
    attempt(other_user, finished=stopped.created_at - timedelta(seconds=1))
    attempt(other_user, Status.DECLINED, finished=timezone.now())
    assert continue_ready([stopped]) == set()  # one before the message, one declined: neither counts
    attempt(other_user, Status.SUCCEEDED, finished=timezone.now())
    html = browser.get(stopped.conversation.get_absolute_url()).content.decode()
    form = continue_form(html)
    assert " hidden" not in form and "data-chat-after-topup" not in form
    assert "chat-add-first" not in html


def test_a_top_up_settled_after_the_message_counts(stopped, user):
    attempt(user, Status.SUCCEEDED, finished=stopped.created_at - timedelta(minutes=1), settled_at=timezone.now())
    assert continue_ready([stopped]) == {stopped.pk}


def test_a_positive_balance_counts_only_when_it_was_read_after_the_message(stopped, settings):
    settings.CREDITS = {**settings.CREDITS, "BALANCE_CACHE_SECONDS": 10}
    cache.set(CACHE_KEY, {"credits": 10.0, "spend": 0.0, "remaining": 10.0}, 60)
    assert continue_ready([stopped]) == set()  # it may have been read before the task stopped
    Message.objects.filter(pk=stopped.pk).update(created_at=timezone.now() - timedelta(seconds=11))
    stopped.refresh_from_db()
    assert continue_ready([stopped]) == {stopped.pk}
    cache.set(CACHE_KEY, {"credits": 10.0, "spend": 10.0, "remaining": 0.0}, 60)
    assert continue_ready([stopped]) == set()


def test_the_fetch_answer_follows_the_same_rule(browser, stopped, user, settings):
    settings.CHAT = {"AGENT": "tests.test_no_javascript_views.out_of_credits_agent"}
    body = browser.post(
        stopped.conversation.get_absolute_url() + "messages", {"text": "again"}, HTTP_ACCEPT="application/json"
    ).json()
    html = body["messages"][-1]["html"]
    assert "data-chat-after-topup" in continue_form(html) and " hidden" in continue_form(html)


def out_of_credits_agent(conversation: Any, message: Any) -> str:
    return "No credits available."
