"""Unit-level fault injection for the outcome mapping, through httpx.MockTransport."""

from __future__ import annotations

import httpx
import pytest

from credits.models import Status, TopupAttempt
from credits.outcomes import MAX_LANDING_ERROR
from credits.testing import override_transport
from credits.words import status_text, wait_text


@pytest.fixture
def landing_answers(db, settings):
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": "https://landing.test"}
    seen: list[httpx.Request] = []

    def install(handler):
        def record(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return handler(request)

        return override_transport(httpx.MockTransport(record))

    install.seen = seen
    return install


@pytest.mark.parametrize("status", [400, 402, 404, 409, 422])
def test_each_decline_status_is_passed_on(landing_answers, api, status):
    with landing_answers(lambda r: httpx.Response(status, json={"error": "No.", "code": "card_declined"})):
        response = api.topup({"amountCents": 1000})
    assert response.status_code == status
    assert response.json()["code"] == "card_declined"
    assert TopupAttempt.objects.get().status == Status.DECLINED


@pytest.mark.parametrize("status", [405, 410, 413, 418, 500, 502, 503, 301, 307])
def test_other_statuses_are_upstream_errors(landing_answers, api, status):
    headers = {"Location": "https://elsewhere.test/"} if 300 <= status < 400 else {}
    with landing_answers(lambda r: httpx.Response(status, json={"error": "x"}, headers=headers)):
        response = api.topup({"amountCents": 1000})
    assert (response.status_code, response.json()["code"]) == (502, "upstream_error")
    assert TopupAttempt.objects.get().status == Status.ERROR
    assert len(landing_answers.seen) == 1  # a redirect is never followed


def test_a_decline_without_json_gets_a_generic_sentence(landing_answers, api):
    with landing_answers(lambda r: httpx.Response(402, text="<html>Payment Required</html>")):
        body = api.topup({"amountCents": 1000}).json()
    assert body["code"] == "upstream_rejected"
    assert body["error"] == "The billing service declined this top-up."


def test_a_long_landing_sentence_is_cut_to_300_characters(landing_answers, api):
    with landing_answers(lambda r: httpx.Response(402, json={"error": "y" * 1000})):
        body = api.topup({"amountCents": 1000}).json()
    assert len(body["error"]) == MAX_LANDING_ERROR


@pytest.mark.parametrize("code", ["Card Declined", "x" * 65, 42, None, "<script>"])
def test_an_odd_landing_code_becomes_upstream_rejected(landing_answers, api, code):
    with landing_answers(lambda r: httpx.Response(402, json={"error": "No.", "code": code})):
        assert api.topup({"amountCents": 1000}).json()["code"] == "upstream_rejected"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.test/pay",
        "http://landing.test/pay",  # another scheme
        "https://landing.test:8443/pay",  # another port
        "https://landing.test@evil.test/pay",
        "javascript:alert(1)",
        "//evil.test/x",
        "https://evil.test\\@landing.test/billing",  # a backslash: browsers read the host as evil.test
        "https://evil.test%5C@landing.test/billing",
        "https://user:pw@landing.test/billing",  # user info
        "https://landing.test/bil\nling",  # control characters
        "https://landing.test/billing\t",
        "https://landing.test/bil ling",
        "https://landing.test\u200b/billing",
        42,
    ],
)
def test_a_url_off_the_landings_origin_is_dropped(landing_answers, api, url):
    with landing_answers(lambda r: httpx.Response(402, json={"error": "No card.", "code": "no_card", "url": url})):
        assert "url" not in api.topup({"amountCents": 1000}).json()


def test_a_url_on_the_landings_origin_is_kept(landing_answers, api):
    url = "https://LANDING.test:443/billing?x=1#card"
    with landing_answers(lambda r: httpx.Response(402, json={"error": "No card.", "code": "no_card", "url": url})):
        assert api.topup({"amountCents": 1000}).json()["url"] == "https://landing.test/billing?x=1#card"


@pytest.mark.parametrize(
    ("exc", "status", "code", "audit"),
    [
        (httpx.ConnectError("refused"), 502, "upstream_unreachable", Status.ERROR),
        (httpx.ConnectTimeout("slow connect"), 502, "upstream_unreachable", Status.ERROR),
        (httpx.ReadTimeout("slow answer"), 504, "upstream_timeout", Status.UNKNOWN),
        (httpx.WriteTimeout("slow send"), 504, "upstream_timeout", Status.UNKNOWN),
        (httpx.RemoteProtocolError("closed"), 502, "upstream_error", Status.UNKNOWN),
        (httpx.ReadError("reset"), 502, "upstream_error", Status.UNKNOWN),
        (RuntimeError("a bug"), 502, "upstream_error", Status.UNKNOWN),
    ],
)
def test_transport_failures(landing_answers, api, exc, status, code, audit):
    def fail(request):
        raise exc

    with landing_answers(fail):
        response = api.topup({"amountCents": 1000})
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert TopupAttempt.objects.get().status == audit


def test_the_request_the_landing_gets(landing_answers, api, settings, user):
    with landing_answers(lambda r: httpx.Response(200, json={"ok": True, "amountCents": 1000})):
        api.topup({"amountCents": 1000, "source": "inline"}, key="abc")
    (request,) = landing_answers.seen
    assert request.method == "POST"
    assert str(request.url) == "https://landing.test/api/reef/topup-credits"
    assert request.headers["Authorization"] == f"Bearer {settings.CREDITS['AUTH_TOKEN']}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("reef-credits/")
    assert request.headers["Idempotency-Key"].startswith("reef-")
    assert request.content == b'{"amountCents":1000}' or request.content == b'{"amountCents": 1000}'
    assert "Cookie" not in request.headers


def test_the_upstream_key_is_the_same_for_a_retry_and_differs_between_users(landing_answers, user, other_user):
    from tests.conftest import make_api

    ada, bob = make_api(user), make_api(other_user)
    with landing_answers(lambda r: httpx.Response(500)):
        ada.topup({"amountCents": 1000}, key="same")
        ada.topup({"amountCents": 1000}, key="same")
        bob.topup({"amountCents": 1000}, key="same")
    keys = [r.headers["Idempotency-Key"] for r in landing_answers.seen]
    assert keys[0] == keys[1] != keys[2]


def test_a_success_without_a_balance_answers_without_one(landing_answers, api):
    with landing_answers(lambda r: httpx.Response(200, json={"ok": True})):
        body = api.topup({"amountCents": 1000}).json()
    assert body["ok"] is True
    assert "balance" not in body


BUSY = "The billing service is busy with this team's charges, so nothing was charged."


@pytest.mark.parametrize(
    ("retry_after", "wait", "passed_on"),
    [
        ("30", "Try again in 30 seconds.", "30"),
        ("1", "Try again in 1 second.", "1"),
        ("120", "Try again in 2 minutes.", "120"),
        ("61", "Try again in 2 minutes.", "61"),
        ("7200", "Try again in 2 hours.", "7200"),
        (None, "Try again in a few minutes.", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", "Try again in a few minutes.", None),  # a date is not passed on
    ],
)
def test_a_landing_rate_limit_says_how_long_to_wait(landing_answers, api, retry_after, wait, passed_on):
    headers = {"Retry-After": retry_after} if retry_after else {}
    answer = {"error": "Too many charges for this team, slow down.", "code": "rate_limited"}
    with landing_answers(lambda r: httpx.Response(429, json=answer, headers=headers)):
        response = api.topup({"amountCents": 1000})
    assert (response.status_code, response.json()["code"]) == (429, "rate_limited")
    assert response.json()["error"] == f"{BUSY} {wait}"
    assert response.get("Retry-After") == passed_on
    attempt = TopupAttempt.objects.get()
    assert attempt.status == Status.DECLINED
    assert status_text(attempt.status, attempt.error_code) == "Not charged: billing service busy"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "1 second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "1 minute"),
        (61, "2 minutes"),
        (3599, "60 minutes"),
        (3600, "1 hour"),
        (3601, "2 hours"),
    ],
)
def test_wait_text_rounds_up(seconds, text):
    assert wait_text(seconds) == text


@pytest.mark.parametrize(
    ("status", "code", "label"),
    [
        (Status.PENDING, "", "Checking…"),
        (Status.UNKNOWN, "upstream_timeout", "Checking…"),
        (Status.SUCCEEDED, "", "Succeeded"),
        (Status.DECLINED, "card_declined", "Declined by the billing service"),
        (Status.DECLINED, "upstream_rejected", "Declined by the billing service"),
        (Status.DECLINED, "rate_limited", "Not charged: billing service busy"),
        (Status.DECLINED, "no_card", "Not charged: no card saved"),
        (Status.DECLINED, "requires_action", "Not charged: the payment needs confirming"),
        (Status.ERROR, "upstream_auth", "Not charged: top-ups are not set up correctly"),
        (Status.ERROR, "not_configured", "Not charged: top-ups are not set up correctly"),
        (Status.ERROR, "upstream_unreachable", "Error: nothing was charged"),
        (Status.REFUSED, "rate_limited", "Refused here (limit reached): never sent"),
    ],
)
def test_status_text_labels_an_attempt_by_what_happened(status, code, label):
    assert status_text(status, code) == label


def test_a_token_refused_by_the_landing_names_who_can_fix_it(landing_answers, api):
    with landing_answers(lambda r: httpx.Response(401, json={"error": "Token refused.", "code": "unauthorized"})):
        body = api.topup({"amountCents": 1000}).json()
    assert body["code"] == "upstream_auth"
    assert "An administrator of this site needs to fix it" in body["error"]
    assert "trying again will not help" in body["error"]
