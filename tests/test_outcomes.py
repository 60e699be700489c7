"""docs/contract.md section 2's outcome table, row by row, against the sandbox landing over HTTP."""

from __future__ import annotations

import socket

import pytest

from credits.models import Status, TopupAttempt
from credits.words import status_text

# mode of the sandbox → (proxy status, code, audit status)
ROWS = [
    ("ok", 200, "", Status.SUCCEEDED),
    ("decline", 402, "card_declined", Status.DECLINED),
    ("no_card", 402, "no_card", Status.DECLINED),
    ("requires_action", 402, "requires_action", Status.DECLINED),
    ("rejected", 422, "amount_rejected", Status.DECLINED),
    ("unauthorized", 502, "upstream_auth", Status.ERROR),
    ("forbidden", 502, "upstream_auth", Status.ERROR),
    ("rate_limited", 429, "rate_limited", Status.DECLINED),
    ("error", 502, "upstream_error", Status.ERROR),
    ("redirect", 502, "upstream_error", Status.ERROR),
    # A 2xx that is not JSON, or a connection cut after the request went out, may have charged.
    ("not_json", 502, "upstream_error", Status.UNKNOWN),
    ("drop", 502, "upstream_error", Status.UNKNOWN),
]


@pytest.mark.parametrize(("mode", "status", "code", "audit"), ROWS)
def test_each_landing_answer_maps_by_the_table(sandbox, api, mode, status, code, audit):
    sandbox.state.configure(mode=mode)
    response = api.topup({"amountCents": 1000, "source": "header"}, key=f"row-{mode}")
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    attempt = TopupAttempt.objects.get()
    assert attempt.status == audit
    assert attempt.source == "header"
    assert attempt.duration_ms is not None
    assert attempt.finished_at is not None
    assert body["attempt"] == str(attempt.pk)
    if status == 200:
        assert body["ok"] is True
        assert body["amountCents"] == 1000
        assert body["balance"] == {"credits": 20.0, "spend": 0.0, "remaining": 20.0}
        assert attempt.landing_status == 200
    else:
        assert body["code"] == code
        assert attempt.error_code == code
        assert isinstance(body["error"], str)
        assert "<" not in body["error"]  # never the landing's HTML
        assert body["error"] == attempt.error_message
    assert sandbox.state.snapshot()["topupRequests"] == 1


def test_decline_passes_on_the_landings_sentence(sandbox, api):
    sandbox.state.configure(mode="decline")
    body = api.topup({"amountCents": 1000}).json()
    assert body["error"] == "Your card was declined (sandbox)."
    assert body["url"] == f"{sandbox.url}/billing"  # where the user can use another card


def test_a_url_on_the_landings_own_origin_is_passed_on(sandbox, api):
    sandbox.state.configure(mode="no_card")
    body = api.topup({"amountCents": 1000}).json()
    assert body["url"] == f"{sandbox.url}/billing"


def test_upstream_auth_tells_the_user_topups_are_misconfigured(sandbox, api):
    sandbox.state.configure(mode="unauthorized")
    body = api.topup({"amountCents": 1000}).json()
    assert "misconfigured" in body["error"]


def test_landing_rate_limit_passes_retry_after_on_and_says_how_long_to_wait(sandbox, api):
    sandbox.state.configure(mode="rate_limited")
    response = api.topup({"amountCents": 1000})
    assert response.status_code == 429
    assert response["Retry-After"] == "30"
    assert response.json()["code"] == "rate_limited"
    assert response.json()["error"] == (
        "The billing service is busy with this team's charges, so nothing was charged. Try again in 30 seconds."
    )


# Where trying again cannot help, the sentence says who can fix it and never invites a retry;
# where it can, the sentence says to try again.
@pytest.mark.parametrize("mode", ["unauthorized", "forbidden", "no_token"])
def test_a_misconfigured_site_names_who_can_fix_it_and_no_retry(sandbox, api, settings, mode):
    if mode == "no_token":
        settings.CREDITS = {**settings.CREDITS, "AUTH_TOKEN": None}
    else:
        sandbox.state.configure(mode=mode)
    body = api.topup({"amountCents": 1000}).json()
    assert body["code"] in ("upstream_auth", "not_configured")
    assert "An administrator of this site needs to" in body["error"]
    assert "trying again will not help" in body["error"]
    assert "nothing was charged" in body["error"]
    assert "try again in" not in body["error"].lower()
    assert "please try again" not in body["error"].lower()


@pytest.mark.parametrize("mode", ["rate_limited", "error", "redirect"])
def test_a_failure_that_a_retry_can_mend_says_to_try_again(sandbox, api, mode):
    sandbox.state.configure(mode=mode)
    body = api.topup({"amountCents": 1000}).json()
    assert "try again in" in body["error"].lower()
    assert "administrator" not in body["error"]


# sandbox mode → what the recent top-ups call the attempt
LABELS = [
    ("ok", "Succeeded"),
    ("decline", "Declined by the billing service"),
    ("no_card", "Not charged: no card saved"),
    ("requires_action", "Not charged: the payment needs confirming"),
    ("rejected", "Declined by the billing service"),
    ("rate_limited", "Not charged: billing service busy"),
    ("unauthorized", "Not charged: top-ups are not set up correctly"),
    ("error", "Error: nothing was charged"),
    ("drop", "Checking…"),
]


@pytest.mark.parametrize(("mode", "label"), LABELS)
def test_each_attempt_is_labelled_by_what_happened(sandbox, api, mode, label):
    sandbox.state.configure(mode=mode)
    api.topup({"amountCents": 1000})
    attempt = TopupAttempt.objects.get()
    assert status_text(attempt.status, attempt.error_code) == label


def test_a_refused_attempt_keeps_its_label(db):
    assert status_text(Status.REFUSED, "rate_limited") == "Refused here (limit reached): never sent"


def test_a_slow_landing_is_an_unknown_outcome(sandbox, api, settings):
    settings.CREDITS = {**settings.CREDITS, "TIMEOUT": 0.3}
    sandbox.state.configure(delay=1.0)
    response = api.topup({"amountCents": 1000}, key="slow")
    assert response.status_code == 504
    body = response.json()
    assert body["code"] == "upstream_timeout"
    assert "Pressing the same amount again is safe" in body["error"]  # the one, true, instruction
    assert TopupAttempt.objects.get().status == Status.UNKNOWN


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_landing_is_an_error_and_nothing_was_charged(db, api, settings):
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": f"http://127.0.0.1:{_closed_port()}"}
    response = api.topup({"amountCents": 1000})
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_unreachable"
    assert "nothing was charged" in response.json()["error"]
    assert TopupAttempt.objects.get().status == Status.ERROR


def test_no_token_configured_answers_503_and_records_it(sandbox, api, settings):
    settings.CREDITS = {**settings.CREDITS, "AUTH_TOKEN": None}
    response = api.topup({"amountCents": 1000})
    assert response.status_code == 503
    assert response.json()["code"] == "not_configured"
    assert response.json()["error"].startswith("Top-ups are not set up on this site yet")
    attempt = TopupAttempt.objects.get()
    assert (attempt.status, attempt.error_code) == (Status.ERROR, "not_configured")
    assert sandbox.state.snapshot()["topupRequests"] == 0


def test_only_the_validated_amount_goes_upstream(sandbox, api):
    response = api.topup({"amountCents": 2500, "source": "inline", "extra": "x" * 100, "team": "other"})
    assert response.status_code == 200
    # The sandbox refuses any body that is not exactly {"amountCents": N}.
    assert [c["amountCents"] for c in sandbox.state.snapshot()["charges"]] == [2500]


def test_a_success_refreshes_the_cached_balance(sandbox, api):
    assert api.balance().json()["remaining"] == 10.0
    api.topup({"amountCents": 1000})
    assert api.balance().json()["remaining"] == 20.0
