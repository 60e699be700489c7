"""What keeps the site up when the landing is slow: the in-flight cap, and a lean claim path."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from credits.models import Status, TopupAttempt
from credits.topups import request_topup


def test_past_the_in_flight_cap_a_top_up_answers_503_busy_and_sends_nothing(sandbox, api, settings):
    settings.CREDITS = {**settings.CREDITS, "MAX_LANDING_CALLS": 0}
    response = api.topup({"amountCents": 1000})
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "busy"
    assert "nothing was charged" in response.json()["error"]
    assert sandbox.state.snapshot()["topupRequests"] == 0
    attempt = TopupAttempt.objects.get()  # recorded, as every failure is: definitely nothing charged
    assert (attempt.status, attempt.error_code, attempt.key_live) == (Status.ERROR, "busy", False)


def test_past_the_in_flight_cap_the_balance_answers_503_busy(sandbox, api, settings):
    settings.CREDITS = {**settings.CREDITS, "MAX_LANDING_CALLS": 0}
    response = api.balance()
    assert (response.status_code, response.json()["code"]) == (503, "busy")


def test_the_claim_path_makes_only_the_queries_correctness_needs(sandbox, user):
    """Settle-first check, the claim (user lock where there is one, one read, the attempt and
    its settlement task), and the outcome: nothing more, however many attempts exist."""
    from datetime import timedelta

    from django.utils import timezone

    request_topup(user, 1000, key="warm")
    for n in range(200):  # older history that no rule reads
        TopupAttempt.objects.create(user=user, amount_cents=500, idempotency_key=f"old-{n}", status=Status.DECLINED)
    TopupAttempt.objects.exclude(idempotency_key="warm").update(created_at=timezone.now() - timedelta(days=3))
    with CaptureQueriesContext(connection) as queries:
        assert request_topup(user, 1000, key="k").status == 200
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    statements = [s for s in statements if s not in ("SAVEPOINT", "RELEASE")]  # the test's own transaction
    lock = ["SELECT"] if connection.features.has_select_for_update else []
    assert statements == ["SELECT", *lock, "SELECT", "INSERT", "INSERT", "UPDATE"]


def test_a_replay_reads_once_and_writes_nothing(sandbox, user):
    request_topup(user, 1000, key="k")
    with CaptureQueriesContext(connection) as queries:
        assert request_topup(user, 1000, key="k").headers == {"Idempotent-Replayed": "true"}
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert writes == []
