"""The top-up form without JavaScript, and the JSON list of recent top-ups."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from credits.models import Source, Status, TopupAttempt

pytestmark = pytest.mark.django_db

FORM = "/ui/api/topup-form"
RECENT = "/ui/api/recent-topups"


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def messages_of(response):
    """The messages this response added (a test client that does not follow keeps the older ones)."""
    return [str(m) for m in get_messages(response.wsgi_request)][-1:]


def test_a_post_charges_once_and_comes_back_with_a_message(browser, sandbox):
    response = browser.post(FORM, {"amount": "10", "key": "page-key-1", "next": "/ui/c/3/?a=b"})
    assert response.status_code == 302
    assert response["Location"] == "/ui/c/3/?a=b"
    assert messages_of(response) == ["Added $10"]
    attempt = TopupAttempt.objects.get()
    assert (attempt.amount_cents, attempt.source, attempt.status) == (1000, Source.FORM, Status.SUCCEEDED)
    assert attempt.idempotency_key == "page-key-1"


def test_a_double_submit_of_the_same_page_charges_once(browser, sandbox):
    data = {"amount": "25", "key": uuid.uuid4().hex, "next": "/ui/"}
    first = browser.post(FORM, data)
    second = browser.post(FORM, data)
    assert messages_of(first) == ["Added $25"]
    assert messages_of(second) == ["Added $25"]
    assert len(sandbox.state.snapshot()["charges"]) == 1
    assert sandbox.state.snapshot()["topupRequests"] == 1


def test_the_form_needs_the_csrf_token(user, sandbox):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(FORM, {"amount": "10", "key": "k"})
    assert response.status_code == 403
    assert sandbox.state.snapshot()["topupRequests"] == 0


def test_anonymous_is_sent_to_log_in_and_nothing_is_charged(sandbox):
    response = Client().post(FORM, {"amount": "10"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert sandbox.state.snapshot()["topupRequests"] == 0


def test_get_is_not_allowed(browser):
    assert browser.get(FORM).status_code == 405


@pytest.mark.parametrize(
    ("amount", "message"),
    [("3", "A top-up must be from $5 to $1,000."), ("", "Choose an amount or enter a whole number of dollars.")],
)
def test_a_bad_amount_never_reaches_the_landing(browser, sandbox, amount, message):
    response = browser.post(FORM, {"amount": amount, "next": "/ui/"})
    assert response["Location"] == "/ui/"
    assert messages_of(response) == [message]
    assert sandbox.state.snapshot()["topupRequests"] == 0
    assert not TopupAttempt.objects.exists()


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)", ""])
def test_next_must_be_on_this_site(browser, sandbox, next_url):
    response = browser.post(FORM, {"amount": "10", "next": next_url})
    assert response["Location"] == "/"


def test_without_next_the_referer_on_this_site_is_used(browser, sandbox):
    response = browser.post(FORM, {"amount": "10"}, headers={"Referer": "http://testserver/ui/c/9/"})
    assert response["Location"] == "http://testserver/ui/c/9/"


def test_a_decline_shows_the_landings_sentence_and_its_link(browser, sandbox):
    sandbox.state.configure(mode="no_card")
    response = browser.post(FORM, {"amount": "10", "next": "/ui/"})
    [message] = messages_of(response)
    assert message.startswith(
        'No card is saved for this team. <a href="' + sandbox.url + '/billing" target="_blank" rel="noopener">'
    )
    sandbox.state.configure(mode="decline")
    response = browser.post(FORM, {"amount": "10", "next": "/ui/"})
    [message] = messages_of(response)
    assert message.startswith(
        'Your card was declined (sandbox). <a href="' + sandbox.url + '/billing" target="_blank" rel="noopener">'
    )


def test_recent_topups_lists_the_users_own_newest_first(browser, user, other_user, sandbox, settings):
    settings.CREDITS = {**settings.CREDITS, "RECENT_TOPUPS": 3}
    for cents, status, message in [
        (500, Status.SUCCEEDED, ""),
        (1000, Status.DECLINED, "Your card was declined."),
        (2500, Status.UNKNOWN, "No answer in time."),
        (5000, Status.SUCCEEDED, ""),
    ]:
        TopupAttempt.objects.create(
            user=user, amount_cents=cents, idempotency_key=uuid.uuid4().hex, status=status, error_message=message
        )
    TopupAttempt.objects.create(user=other_user, amount_cents=700, idempotency_key="other", status=Status.SUCCEEDED)
    response = browser.get(RECENT)
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    topups = response.json()["topups"]
    assert [t["amountCents"] for t in topups] == [5000, 2500, 1000]
    unknown = topups[1]
    assert unknown["amount"] == "$25"
    assert unknown["status"] == "unknown"
    assert unknown["statusText"] == "Checking…"
    assert "detail" not in unknown
    assert topups[2]["detail"] == "Your card was declined."
    assert topups[0]["createdAt"].endswith("+00:00")


def test_recent_topups_is_json_for_strangers_and_other_methods(browser, settings):
    response = Client().get(RECENT)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert browser.post(RECENT).json()["code"] == "method_not_allowed"
    settings.CREDITS = {**settings.CREDITS, "RECENT_TOPUPS": 0}
    assert browser.get(RECENT).status_code == 404


def test_recent_topups_makes_two_queries(browser, user, django_assert_max_num_queries):
    TopupAttempt.objects.create(user=user, amount_cents=500, idempotency_key="a")
    with django_assert_max_num_queries(3):  # session, user, the list
        browser.get(RECENT)


def test_recent_topups_label_each_refusal_by_what_happened(browser, sandbox):
    """A busy billing service did not decline the card: the list says what happened."""
    sandbox.state.configure(mode="rate_limited")
    browser.post(FORM, {"amount": "10", "next": "/ui/"})
    [topup] = browser.get(RECENT).json()["topups"]
    assert topup["statusText"] == "Not charged: billing service busy"


def test_a_large_amount_asks_first_and_sends_nothing_until_confirmed(browser, sandbox):
    asked = browser.post(FORM, {"amount": "1000", "key": "big-1", "next": "/ui/"})
    assert asked.status_code == 200
    page = asked.content.decode()
    assert "Add $1,000 to the team&#x27;s credits?" in page
    assert '<input type="hidden" name="confirmed" value="1">' in page
    assert '<input type="hidden" name="key" value="big-1">' in page
    assert ">Cancel</a>" in page and 'href="/ui/"' in page
    assert sandbox.state.snapshot()["topupRequests"] == 0
    assert not TopupAttempt.objects.exists()
    for _twice in range(2):  # the confirmation page submitted twice charges once
        confirmed = browser.post(FORM, {"amount": "1000", "key": "big-1", "next": "/ui/", "confirmed": "1"})
        assert confirmed.status_code == 302
    assert [c["amountCents"] for c in sandbox.state.snapshot()["charges"]] == [100_000]


def test_below_the_line_no_question_is_asked(browser, sandbox, settings):
    assert browser.post(FORM, {"amount": "199", "key": "k", "next": "/ui/"}).status_code == 302
    settings.CREDITS = {**settings.CREDITS, "CONFIRM_ABOVE_DOLLARS": None}
    assert browser.post(FORM, {"amount": "500", "key": "k2", "next": "/ui/"}).status_code == 302
    assert [c["amountCents"] for c in sandbox.state.snapshot()["charges"]] == [19_900, 50_000]


def test_the_form_says_another_top_up_is_still_being_processed(browser, sandbox, user):
    from datetime import timedelta

    from django.utils import timezone

    TopupAttempt.objects.create(
        user=user, amount_cents=1500, idempotency_key="tab", settle_at=timezone.now() + timedelta(seconds=30)
    )
    response = browser.post(FORM, {"amount": "10", "key": "page", "next": "/ui/credits/"})
    assert response.status_code == 302
    assert messages_of(response)[0].startswith("Your $15 top-up is still being processed.")
    page = browser.get("/ui/credits/").content.decode()
    assert "Your $15 top-up is still being processed." in page  # the page, loaded now, says it at once
    assert sandbox.state.snapshot()["topupRequests"] == 0
