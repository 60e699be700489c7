"""Idempotency-Key: replay, in progress, mismatch, per-user scope, the 24-hour window, retries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from credits.models import Status, TopupAttempt
from tests.conftest import make_api


def charges(sandbox):
    return sandbox.state.snapshot()["charges"]


def test_the_same_key_and_amount_replays_the_first_answer(sandbox, api):
    first = api.topup({"amountCents": 1000}, key="k")
    second = api.topup({"amountCents": 1000}, key="k")
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert len(charges(sandbox)) == 1
    assert sandbox.state.snapshot()["topupRequests"] == 1
    assert TopupAttempt.objects.count() == 1


def test_a_decline_is_replayed_too(sandbox, api):
    sandbox.state.configure(mode="decline")
    first = api.topup({"amountCents": 1000}, key="k")
    sandbox.state.configure(mode="ok")
    second = api.topup({"amountCents": 1000}, key="k")
    assert (first.status_code, second.status_code) == (402, 402)
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert charges(sandbox) == []


def test_the_same_key_with_another_amount_is_422(sandbox, api):
    api.topup({"amountCents": 1000}, key="k")
    response = api.topup({"amountCents": 5000}, key="k")
    assert (response.status_code, response.json()["code"]) == (422, "idempotency_mismatch")
    assert len(charges(sandbox)) == 1


def test_the_same_key_while_in_flight_is_409(sandbox, api, user):
    # Pending, and its landing call could still be running.
    TopupAttempt.objects.create(
        user=user, amount_cents=1000, idempotency_key="k", settle_at=timezone.now() + timedelta(seconds=30)
    )
    response = api.topup({"amountCents": 1000}, key="k")
    assert (response.status_code, response.json()["code"]) == (409, "in_progress")
    assert sandbox.state.snapshot()["topupRequests"] == 0


def test_keys_are_scoped_to_the_user(sandbox, user, other_user):
    make_api(user).topup({"amountCents": 1000}, key="shared")
    response = make_api(other_user).topup({"amountCents": 1000}, key="shared")
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response
    assert len(charges(sandbox)) == 2


def test_without_a_key_the_server_makes_one_and_sends_it(sandbox, api):
    api.topup({"amountCents": 1000})
    api.topup({"amountCents": 1000})
    keys = [c["key"] for c in charges(sandbox)]
    assert len(keys) == 2 and keys[0] != keys[1] and all(keys)
    stored = list(TopupAttempt.objects.values_list("idempotency_key", flat=True))
    assert len(set(stored)) == 2


def test_a_key_is_replayed_for_24_hours_and_then_goes_upstream_under_the_same_key(sandbox, api):
    api.topup({"amountCents": 1000}, key="k")
    TopupAttempt.objects.update(created_at=timezone.now() - timedelta(hours=23, minutes=59))
    assert api.topup({"amountCents": 1000}, key="k")["Idempotent-Replayed"] == "true"
    TopupAttempt.objects.update(created_at=timezone.now() - timedelta(hours=24, minutes=1))
    response = api.topup({"amountCents": 1000}, key="k")
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response
    assert TopupAttempt.objects.filter(key_live=True).count() == 1
    # The same intended top-up: the landing sees the same key and answers as the first time.
    assert len({a.upstream_key for a in TopupAttempt.objects.all()}) == 1
    assert len(charges(sandbox)) == 1
    assert sandbox.state.snapshot()["topupRequests"] == 2


def test_a_key_keeps_its_amount_for_good(sandbox, api):
    api.topup({"amountCents": 1000}, key="k")
    TopupAttempt.objects.update(created_at=timezone.now() - timedelta(days=3))
    response = api.topup({"amountCents": 5000}, key="k")
    assert (response.status_code, response.json()["code"]) == (422, "idempotency_mismatch")
    assert sandbox.state.snapshot()["topupRequests"] == 1


def test_a_retry_after_an_unknown_outcome_reaches_the_landing_and_charges_once(sandbox, api, settings):
    """The landing charged but answered too late; the widget retries with the same key."""
    settings.CREDITS = {**settings.CREDITS, "TIMEOUT": 0.3}
    sandbox.state.configure(delay=1.0)
    assert api.topup({"amountCents": 1000}, key="k").status_code == 504
    sandbox.state.configure(delay=0)
    retry = api.topup({"amountCents": 1000}, key="k")
    assert retry.status_code == 200
    assert len(charges(sandbox)) == 1  # the landing replayed its first answer
    assert sandbox.state.snapshot()["remaining"] == 20.0
    attempt = TopupAttempt.objects.get()  # the retry settled the first attempt, and made no other
    assert (attempt.status, attempt.first_status, attempt.settled_by, attempt.settle_tries) == (
        Status.SUCCEEDED,
        Status.UNKNOWN,
        "retry",
        1,
    )


def test_a_retry_after_an_error_reaches_the_landing_again(sandbox, api):
    sandbox.state.configure(mode="error")
    assert api.topup({"amountCents": 1000}, key="k").status_code == 502
    sandbox.state.configure(mode="ok")
    assert api.topup({"amountCents": 1000}, key="k").status_code == 200
    assert len(charges(sandbox)) == 1


def test_a_retry_after_an_unknown_outcome_with_another_amount_is_422(sandbox, api):
    sandbox.state.configure(mode="error")
    api.topup({"amountCents": 1000}, key="k")
    response = api.topup({"amountCents": 2500}, key="k")
    assert (response.status_code, response.json()["code"]) == (422, "idempotency_mismatch")


def test_a_validation_error_stores_nothing_so_the_key_stays_free(sandbox, api):
    assert api.topup({"amountCents": 1050}, key="k").status_code == 400
    assert api.topup({"amountCents": 1000}, key="k").status_code == 200


@pytest.mark.parametrize("key", ["k", "K"])
def test_keys_are_case_sensitive(sandbox, api, key):
    api.topup({"amountCents": 1000}, key="k")
    response = api.topup({"amountCents": 1000}, key=key)
    assert ("Idempotent-Replayed" in response) == (key == "k")


def test_the_unique_constraint_holds_without_the_view(db, user):
    from django.db import IntegrityError, transaction

    TopupAttempt.objects.create(user=user, amount_cents=1000, idempotency_key="k")
    with pytest.raises(IntegrityError), transaction.atomic():
        TopupAttempt.objects.create(user=user, amount_cents=1000, idempotency_key="k")
    TopupAttempt.objects.create(user=user, amount_cents=1000, idempotency_key="k", key_live=False)


def test_every_retry_of_a_key_goes_upstream_under_its_first_upstream_key(sandbox, api):
    sandbox.state.configure(mode="error")
    api.topup({"amountCents": 1000}, key="k")
    sandbox.state.configure(mode="ok")
    api.topup({"amountCents": 1000}, key="k")
    first, retry = TopupAttempt.objects.order_by("created_at")
    assert first.upstream_key == retry.upstream_key != ""
    TopupAttempt.objects.update(created_at=timezone.now() - timedelta(days=2))
    api.topup({"amountCents": 1000}, key="k")
    newest = TopupAttempt.objects.order_by("-created_at").first()
    assert newest.upstream_key == first.upstream_key
    assert len(charges(sandbox)) == 1


def test_a_retry_after_not_configured_sends_the_keys_upstream_key(sandbox, api, settings):
    settings.CREDITS = {**settings.CREDITS, "AUTH_TOKEN": None}
    assert api.topup({"amountCents": 1000}, key="k").status_code == 503
    settings.CREDITS = {**settings.CREDITS, "AUTH_TOKEN": sandbox.state.token}
    assert api.topup({"amountCents": 1000}, key="k").status_code == 200
    first, retry = TopupAttempt.objects.order_by("created_at")
    assert first.upstream_key == retry.upstream_key
    assert charges(sandbox)[0]["key"] == first.upstream_key
    assert first.upstream_key.startswith("reef-")


def test_another_users_key_never_meets_at_the_landing(sandbox, user, other_user):
    make_api(user).topup({"amountCents": 1000}, key="shared")
    make_api(other_user).topup({"amountCents": 1000}, key="shared")
    assert len({c["key"] for c in charges(sandbox)}) == 2


def test_every_answer_says_what_became_of_the_top_up(sandbox, api, user):
    assert api.topup({"amountCents": 1000}, key="a").json()["outcome"] == "succeeded"
    assert api.topup({"amountCents": 1000}, key="a").json()["outcome"] == "succeeded"  # the replay too
    assert api.topup({"amountCents": 5000}, key="a").json()["outcome"] == "refused"  # another amount
    assert api.topup({"amountCents": 3}, key="b").json()["outcome"] == "refused"  # never sent
    sandbox.state.configure(mode="decline")
    assert api.topup({"amountCents": 1000}, key="c").json()["outcome"] == "declined"
    sandbox.state.configure(mode="error")
    assert api.topup({"amountCents": 1000}, key="d").json()["outcome"] == "error"
    sandbox.state.configure(mode="ok")
    TopupAttempt.objects.create(
        user=user, amount_cents=1500, idempotency_key="e", settle_at=timezone.now() + timedelta(seconds=30)
    )
    assert api.topup({"amountCents": 1500}, key="e").json()["outcome"] == "pending"
    assert api.topup({"amountCents": 1000}, key="f").json()["outcome"] == "pending"
