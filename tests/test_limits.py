"""Per-user limits, kept in the database: attempts an hour and dollars a day."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from credits.models import Status, TopupAttempt
from tests.conftest import make_api


def test_the_eleventh_attempt_in_an_hour_is_429(sandbox, api):
    for i in range(10):
        assert api.topup({"amountCents": 500}, key=f"k{i}").status_code == 200
    response = api.topup({"amountCents": 500}, key="k10")
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 3500 <= int(response["Retry-After"]) <= 3600
    assert sandbox.state.snapshot()["topupRequests"] == 10
    refused = TopupAttempt.objects.get(status=Status.REFUSED)
    assert refused.error_code == "rate_limited"


def test_declined_and_failed_attempts_count(sandbox, api):
    sandbox.state.configure(mode="decline")
    for i in range(5):
        api.topup({"amountCents": 500}, key=f"d{i}")
    sandbox.state.configure(mode="error")
    for i in range(5):
        api.topup({"amountCents": 500}, key=f"e{i}")
    sandbox.state.configure(mode="ok")
    assert api.topup({"amountCents": 500}, key="next").status_code == 429


def test_replays_do_not_count(sandbox, api):
    for _ in range(15):
        assert api.topup({"amountCents": 500}, key="same").status_code == 200
    assert api.topup({"amountCents": 500}, key="other").status_code == 200


def test_refusals_do_not_extend_the_limit(sandbox, api, user):
    old = timezone.now() - timedelta(minutes=59, seconds=30)
    for i in range(10):
        TopupAttempt.objects.create(user=user, amount_cents=500, idempotency_key=f"o{i}", status=Status.SUCCEEDED)
    TopupAttempt.objects.update(created_at=old)
    for i in range(3):
        assert api.topup({"amountCents": 500}, key=f"r{i}").status_code == 429
    TopupAttempt.objects.exclude(status=Status.REFUSED).update(created_at=old - timedelta(minutes=1))
    assert api.topup({"amountCents": 500}, key="later").status_code == 200


def test_the_daily_dollar_limit(sandbox, api):
    for i in range(2):
        assert api.topup({"amountCents": 100000}, key=f"big{i}").status_code == 200
    response = api.topup({"amountCents": 500}, key="one-more")
    assert response.status_code == 429
    assert "$2,000 a day" in response.json()["error"]
    assert int(response["Retry-After"]) > 3600
    assert len(sandbox.state.snapshot()["charges"]) == 2


def test_a_retried_topup_counts_once_towards_the_dollars(sandbox, api, settings):
    settings.CREDITS = {**settings.CREDITS, "MAX_CENTS_PER_DAY": 2000}
    sandbox.state.configure(mode="error")
    api.topup({"amountCents": 1000}, key="k")
    sandbox.state.configure(mode="ok")
    assert api.topup({"amountCents": 1000}, key="k").status_code == 200
    assert api.topup({"amountCents": 1000}, key="k2").status_code == 200
    assert api.topup({"amountCents": 500}, key="k3").status_code == 429


def test_limits_are_per_user(sandbox, user, other_user, settings):
    settings.CREDITS = {**settings.CREDITS, "MAX_ATTEMPTS_PER_HOUR": 1}
    assert make_api(user).topup({"amountCents": 500}).status_code == 200
    assert make_api(user).topup({"amountCents": 500}).status_code == 429
    assert make_api(other_user).topup({"amountCents": 500}).status_code == 200


def test_old_attempts_leave_the_window(sandbox, api, user):
    for i in range(10):
        TopupAttempt.objects.create(user=user, amount_cents=500, idempotency_key=f"o{i}", status=Status.SUCCEEDED)
    TopupAttempt.objects.update(created_at=timezone.now() - timedelta(hours=1, seconds=1))
    assert api.topup({"amountCents": 500}).status_code == 200


def test_limits_at_their_edges_refuse_rather_than_fail(sandbox, api, settings):
    settings.CREDITS = {**settings.CREDITS, "MAX_ATTEMPTS_PER_HOUR": 0}
    assert api.topup({"amountCents": 1000}).status_code == 429
    settings.CREDITS = {**settings.CREDITS, "MAX_ATTEMPTS_PER_HOUR": 10, "MAX_CENTS_PER_DAY": 500}
    refused = api.topup({"amountCents": 1000}, key="over-the-day")
    assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
    assert sandbox.state.snapshot()["topupRequests"] == 0


def test_a_browser_cannot_claim_the_background_source(sandbox, api):
    response = api.topup({"amountCents": 1000, "source": "auto"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_source")
    assert sandbox.state.snapshot()["topupRequests"] == 0
