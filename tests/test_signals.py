"""topup_succeeded / topup_failed: sent after the row is finished; a failing receiver changes nothing."""

from __future__ import annotations

from credits.models import Status
from credits.signals import topup_failed, topup_succeeded


def test_success_sends_topup_succeeded_with_the_balance(sandbox, api):
    got = []

    def receiver(sender, attempt, balance, **kwargs):
        got.append((attempt.status, attempt.amount_cents, balance))

    topup_succeeded.connect(receiver)
    try:
        api.topup({"amountCents": 1000})
    finally:
        topup_succeeded.disconnect(receiver)
    assert got == [(Status.SUCCEEDED, 1000, {"credits": 20.0, "spend": 0.0, "remaining": 20.0})]


def test_a_failure_sends_topup_failed(sandbox, api):
    got = []

    def receiver(sender, attempt, **kwargs):
        got.append(attempt.status)

    topup_failed.connect(receiver)
    try:
        sandbox.state.configure(mode="decline")
        api.topup({"amountCents": 1000})
    finally:
        topup_failed.disconnect(receiver)
    assert got == [Status.DECLINED]


def test_a_failing_receiver_is_logged_and_changes_nothing(sandbox, api, caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    topup_succeeded.connect(broken)
    try:
        response = api.topup({"amountCents": 1000})
    finally:
        topup_succeeded.disconnect(broken)
    assert response.status_code == 200
    assert "signal receiver" in caplog.text and "receiver bug" in caplog.text
