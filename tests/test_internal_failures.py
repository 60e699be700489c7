"""A top-up that fails for an internal reason says what is known: before it was sent, that
nothing was charged; after, that the outcome is not known yet (and the attempt is settled later)."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from credits import claims, settlement
from credits.models import Status, TopupAttempt

pytestmark = pytest.mark.django_db


def test_a_database_failure_before_the_landing_call_says_nothing_was_charged(sandbox, api, monkeypatch, caplog):
    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(claims, "claim", down)
    response = api.topup({"amountCents": 1000}, key="k")
    body = response.json()
    assert (response.status_code, body["code"]) == (503, "unavailable")
    assert "nothing was charged" in body["error"]
    assert sandbox.state.snapshot()["topupRequests"] == 0
    assert any("failed before it was sent" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")


def test_a_failure_to_record_the_answer_says_the_outcome_is_not_known_and_leaves_it_to_settle(
    sandbox, api, monkeypatch
):
    def unwritable(*args, **kwargs):
        raise OperationalError("connection lost")

    monkeypatch.setattr(settlement, "record", unwritable)
    response = api.topup({"amountCents": 1000}, key="k")
    body = response.json()
    assert (response.status_code, body["code"]) == (502, "not_recorded")
    assert "do not know yet" in body["error"]
    attempt = TopupAttempt.objects.get()
    assert (str(attempt.pk), attempt.status) == (body["attempt"], Status.PENDING)  # settlement finds its outcome
    monkeypatch.undo()
    attempt.settle_at = attempt.created_at
    attempt.save()
    assert settlement.settle(attempt, settlement.SettledBy.BACKGROUND).status == Status.SUCCEEDED
    assert len(sandbox.state.snapshot()["charges"]) == 1
