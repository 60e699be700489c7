"""Round 2 of "what a person meets", on the server: the new words, the recent top-ups' shape
(one time format for the page with and without JavaScript), the credits page without
JavaScript (an invalid custom amount comes back kept, beside its error; the auto top-up as a
plain form for those who may change it)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.test import Client
from django.utils import formats, timezone, translation

from credits.api import attempt_json, created_text
from credits.balance import CACHE_KEY
from credits.conf import get_settings
from credits.models import AutoTopup, Source, Status, TopupAttempt
from credits.words import (
    auto_topup_line,
    msg_bad_answer_unknown,
    msg_balance_detail,
    msg_not_recorded,
    msg_retry_safe,
    msg_source_auto,
    msg_timeout,
    script_texts,
)
from tests.test_auto_topup import grant

pytestmark = pytest.mark.django_db

PAGE = "/ui/credits/"
FORM = "/ui/api/topup-form"
RECENT = "/ui/api/recent-topups"
RETRY_SAFE = "Pressing the same amount again is safe: it cannot be charged twice."


@pytest.fixture
def browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def cached() -> None:
    """A balance in the cache: the page asks no landing."""
    cache.set(CACHE_KEY, {"credits": 1250.0, "spend": 1250.0, "remaining": 0.0}, 60)


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)][-1:]


def main_of(html: str) -> str:
    return html[html.index("<main") :]


# --- the words ------------------------------------------------------------------------------------


def test_the_balance_detail_says_bought_and_used_in_total():
    detail = msg_balance_detail() % {"credits": "$1,250.00", "spend": "$1,250.00"}
    assert detail == "$1,250.00 bought in total, $1,250.00 used"
    assert "Credits" not in detail and "spent" not in detail  # never a second balance beside "$0.00"


def test_the_auto_top_up_state_is_one_line():
    assert auto_topup_line(False, 2500, 500) == "Auto top-up: off"
    assert auto_topup_line(True, 2500, 500) == "Auto top-up: on, $25 when below $5"
    assert auto_topup_line(True, 100_000, 1050) == "Auto top-up: on, $1,000 when below $10.50"
    texts = script_texts(get_settings())
    assert texts["autoOff"] == "Auto top-up: off"
    assert texts["autoOn"] % {"amount": "$25", "threshold": "$5"} == "Auto top-up: on, $25 when below $5"
    assert texts["auto"] == msg_source_auto() == "Auto"


@pytest.mark.parametrize("words", [msg_timeout, msg_not_recorded, msg_bad_answer_unknown])
def test_an_unknown_outcome_gives_one_instruction_the_true_one(words):
    sentence = words()
    assert sentence.endswith(" " + RETRY_SAFE)
    assert msg_retry_safe() == RETRY_SAFE
    assert "Check your balance" not in sentence  # no second instruction pulling the other way
    assert sentence.count("again") == 1


def test_the_scripts_own_unknown_outcomes_leave_the_instruction_to_retry_safe():
    texts = script_texts(get_settings())
    for name in ("network", "badAnswer"):
        assert "Check your balance" not in texts[name] and "again" not in texts[name]
    assert texts["retrySafe"] == RETRY_SAFE


def test_the_new_words_have_german():
    with translation.override("de"):
        assert auto_topup_line(False, 2500, 500) == "Automatische Aufladung: aus"
        assert auto_topup_line(True, 2500, 500) == "Automatische Aufladung: an, $25, wenn unter $5"
        assert (
            msg_balance_detail() % {"credits": "$5.00", "spend": "$1.00"} == "$5.00 insgesamt gekauft, $1.00 verbraucht"
        )
        assert msg_timeout().endswith("Er kann nicht doppelt abgebucht werden.")
        assert "Prüfen Sie Ihr Guthaben" not in msg_timeout()


# --- the recent top-ups' shape ------------------------------------------------------------------


def busy_auto_top_up(user: Any) -> TopupAttempt:
    """An automatic $25 the billing service turned away as busy: a label and a longer sentence."""
    return TopupAttempt.objects.create(
        user=user,
        amount_cents=2500,
        idempotency_key=uuid.uuid4().hex,
        status=Status.DECLINED,
        source=Source.AUTO,
        error_code="rate_limited",
        error_message="The billing service is busy with this team's charges, so nothing was charged.",
    )


def test_a_recent_top_up_carries_its_time_as_the_pages_write_it(browser, user):
    attempt = busy_auto_top_up(user)
    [item] = browser.get(RECENT).json()["topups"]
    expected = formats.date_format(timezone.localtime(attempt.created_at), "DATETIME_FORMAT")
    assert item["createdText"] == created_text(attempt.created_at) == expected
    # additive: every field the list had is still there, as it was
    assert set(item) == {
        "id",
        "amountCents",
        "amount",
        "createdAt",
        "createdText",
        "status",
        "statusText",
        "source",
        "detail",
    }
    assert (item["source"], item["statusText"]) == ("auto", "Not charged: billing service busy")
    assert item == attempt_json(attempt)


def test_the_page_writes_the_time_in_the_same_format_and_marks_automatic_ones(browser, user, cached):
    attempt = busy_auto_top_up(user)
    recent = main_of(browser.get(PAGE).content.decode())
    recent = recent[recent.index("Your recent top-ups") :]
    assert f">{created_text(attempt.created_at)}</time>" in recent
    assert '<span class="credits-tag">Auto</span>' in recent
    # the label alone on the line; the sentence is its tooltip, not repeated in brackets
    assert (
        'title="The billing service is busy with this team&#x27;s charges, so nothing was charged.">'
        "Not charged: billing service busy</span>"
    ) in recent
    assert "busy (" not in recent


# --- the words on the widgets ----------------------------------------------------------------------


def test_the_inline_widgets_lead_matches_its_button(browser, user, cached):
    from chat.models import Conversation, Message, Role

    conversation = Conversation.objects.create(user=user, title="Deploy logs")
    asked = Message.objects.create(conversation=conversation, role=Role.USER, text="Check the logs.")
    Message.objects.create(
        conversation=conversation, role=Role.ASSISTANT, text="No credits available.", prompt=asked, out_of_credits=True
    )
    html = browser.get(conversation.get_absolute_url()).content.decode()
    assert "Add credits, then press Continue." in html
    assert "ask again" not in html


def test_the_header_says_bought_and_used(browser, cached):
    html = browser.get("/ui/").content.decode()
    assert 'title="$1,250.00 bought in total, $1,250.00 used"' in html


# --- the credits page without JavaScript: a custom amount -----------------------------------------


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("-10", "A top-up must be from $5 to $1,000."),
        ("3", "A top-up must be from $5 to $1,000."),
        ("5000", "A top-up must be from $5 to $1,000."),
        ("7.5", "Enter a whole number of dollars, such as 10."),
    ],
)
def test_an_invalid_custom_amount_comes_back_kept_beside_its_error(browser, sandbox, cached, typed, error):
    response = browser.post(FORM, {"amount": typed, "key": uuid.uuid4().hex, "next": PAGE})
    assert (response.status_code, response["Location"]) == (302, PAGE)  # back to the page, as every post
    assert not messages_of(response)  # beside the field, not in the banner
    page = browser.get(PAGE)
    assert page.status_code == 200
    main = main_of(page.content.decode())
    custom = re.search(r'<input class="credits-input" id="([\w-]+)-amount" name="amount"[^>]*>', main)
    assert custom is not None
    uid = custom.group(1)
    assert f'value="{typed}"' in custom.group(0)
    assert 'aria-invalid="true"' in custom.group(0) and "autofocus" in custom.group(0)
    assert f'aria-describedby="{uid}-amount-error {uid}-hint"' in custom.group(0)
    assert f'<p class="credits-field-error" id="{uid}-amount-error">{error}</p>' in main
    assert main.count(f'name="next" value="{PAGE}"') == 2  # the page's forms still come back to the page
    assert "novalidate" in main[main.index("credits-custom") :][:300]  # the server says it, as the script does
    again = main_of(browser.get(PAGE).content.decode())  # shown once: a reload starts afresh
    assert "credits-field-error" not in again and 'aria-invalid="true"' not in again
    assert sandbox.state.snapshot()["topupRequests"] == 0
    assert not TopupAttempt.objects.exists()


def test_an_invalid_amount_from_elsewhere_still_comes_back_with_a_message(browser, sandbox):
    response = browser.post(FORM, {"amount": "-10", "next": "/ui/"})
    assert (response.status_code, response["Location"]) == (302, "/ui/")
    assert messages_of(response) == ["A top-up must be from $5 to $1,000."]


def test_a_valid_amount_from_the_page_still_charges_and_comes_back(browser, sandbox, cached):
    response = browser.post(FORM, {"amount": "10", "key": uuid.uuid4().hex, "next": PAGE})
    assert (response.status_code, response["Location"]) == (302, PAGE)
    assert messages_of(response) == ["Added $10"]


# --- the credits page without JavaScript: the auto top-up -----------------------------------------


def test_a_manager_changes_the_auto_top_up_with_a_plain_form(browser, user, cached):
    browser.force_login(grant(user))
    html = main_of(browser.get(PAGE).content.decode())
    assert '<p class="credits-auto-line">Auto top-up: off</p>' in html
    assert 'class="credits-auto-form" method="post"' in html
    response = browser.post(PAGE, {"enabled": "on", "threshold": "5", "amount": "25", "monthly_cap": "100"})
    assert (response.status_code, response["Location"]) == (302, PAGE)
    assert messages_of(response) == ["Saved. Auto top-up: on, $25 when below $5."]
    row = AutoTopup.objects.get()
    assert (row.enabled, row.threshold_cents, row.amount_cents, row.monthly_cap_cents) == (True, 500, 2500, 10000)
    assert row.enabled_by_id == user.pk
    html = main_of(browser.get(PAGE).content.decode())
    assert '<p class="credits-auto-line">Auto top-up: on, $25 when below $5</p>' in html
    assert html.count("Spent this month") == 1


def test_an_invalid_auto_top_up_comes_back_with_the_errors_beside_the_fields(browser, user, cached):
    browser.force_login(grant(user))
    response = browser.post(PAGE, {"enabled": "on", "threshold": "0", "amount": "-3", "monthly_cap": "x"})
    assert response.status_code == 400
    html = main_of(response.content.decode())
    assert "The threshold must be more than $0" not in html  # the field's own rule first: whole dollars
    assert html.count('aria-invalid="true"') == 2
    assert "Enter whole dollars, such as 25." in html
    assert 'value="-3"' in html
    assert not AutoTopup.objects.filter(enabled=True).exists()
    rules = browser.post(PAGE, {"enabled": "on", "threshold": "0", "amount": "25", "monthly_cap": "10"})
    html = main_of(rules.content.decode())
    assert rules.status_code == 400
    assert "The threshold must be more than $0" in html  # AutoTopupForm's rules, as PUT auto-topup says them
    assert "The monthly cap must be at least the amount of one top-up." in html
    assert not AutoTopup.objects.filter(enabled=True).exists()


def test_without_the_permission_there_is_no_form_and_a_post_changes_nothing(browser, cached):
    html = main_of(browser.get(PAGE).content.decode())
    assert "credits-auto-form" not in html
    assert "Ask a team member who manages auto top-up to change it." in html
    response = browser.post(PAGE, {"enabled": "on", "threshold": "5", "amount": "25", "monthly_cap": "100"})
    assert response.status_code == 302
    assert messages_of(response) == ["Only a team member allowed to manage auto top-up can change it."]
    assert not AutoTopup.objects.filter(enabled=True).exists()


def test_anonymous_posts_are_sent_to_log_in(client):
    response = client.post(PAGE, {"enabled": "on", "threshold": "5", "amount": "25", "monthly_cap": "100"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not AutoTopup.objects.exists()
