"""One top-up in flight per person (docs/contract.md section 2, 409 ``earlier_in_progress``).

Decided in the database: two server processes (gunicorn) on the test database, a slow
sandbox landing over real HTTP, and the same user's second tab on the other process.
``make test-postgres`` runs this file on PostgreSQL too.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from credits.models import Status, TopupAttempt
from tests.conftest import make_api
from tests.processes import logged_in_client


def charges(sandbox: Any) -> list[dict[str, Any]]:
    return sandbox.state.snapshot()["charges"]


def topup(client: httpx.Client, cents: int, key: str) -> httpx.Response:
    return client.post("/ui/api/topup-credits", json={"amountCents": cents}, headers={"Idempotency-Key": key})


@pytest.mark.django_db
def test_another_key_while_one_is_in_flight_is_409_and_sends_nothing(sandbox, api, user):
    pending = TopupAttempt.objects.create(
        user=user, amount_cents=1500, idempotency_key="first", settle_at=timezone.now() + timedelta(seconds=30)
    )
    response = api.topup({"amountCents": 1500}, key="second")
    body = response.json()
    assert (response.status_code, body["code"]) == (409, "earlier_in_progress")
    assert (body["attempt"], body["amountCents"]) == (str(pending.pk), 1500)
    assert body["error"].startswith("Your $15 top-up is still being processed")
    assert sandbox.state.snapshot()["topupRequests"] == 0
    assert TopupAttempt.objects.count() == 1  # nothing recorded for a top-up that was never sent
    # The same key is still a retry of the first, as before.
    again = api.topup({"amountCents": 1500}, key="first")
    assert (again.status_code, again.json()["code"]) == (409, "in_progress")


@pytest.mark.django_db
def test_a_teammate_is_not_held_back(sandbox, user, other_user):
    TopupAttempt.objects.create(
        user=user, amount_cents=1500, idempotency_key="first", settle_at=timezone.now() + timedelta(seconds=30)
    )
    response = make_api(other_user).topup({"amountCents": 1500}, key="theirs")
    assert response.status_code == 200
    assert [c["amountCents"] for c in charges(sandbox)] == [1500]


@pytest.mark.django_db
def test_once_the_first_has_its_answer_the_next_goes_through(sandbox, api):
    assert api.topup({"amountCents": 1500}, key="first").status_code == 200
    assert api.topup({"amountCents": 1000}, key="second").status_code == 200
    assert [c["amountCents"] for c in charges(sandbox)] == [1500, 1000]


@pytest.mark.django_db(transaction=True)
def test_two_processes_one_user_two_keys_one_charge_and_a_teammate_goes_through(
    sandbox, settings, processes, user, other_user
):
    settings.CREDITS = {**settings.CREDITS, "TIMEOUT": 10.0}
    sandbox.state.configure(delay=2.0)  # the first tab's top-up stays in flight
    _, first_url = processes.site()
    _, second_url = processes.site()
    first_tab = logged_in_client(first_url, user, timeout=30)
    second_tab = logged_in_client(second_url, user, timeout=30)
    teammate = logged_in_client(second_url, other_user, timeout=30)
    answers: dict[str, httpx.Response] = {}

    def press(name: str, client: httpx.Client, key: str) -> None:
        answers[name] = topup(client, 1500, key)

    try:
        first = threading.Thread(target=press, args=("first", first_tab, "tab-1"))
        first.start()
        deadline = time.monotonic() + 10
        while not TopupAttempt.objects.filter(idempotency_key="tab-1").exists():
            assert time.monotonic() < deadline, "the first top-up was never claimed"
            time.sleep(0.05)
        # A second later, in the other tab (served by the other process), and a teammate at once.
        threads = [
            threading.Thread(target=press, args=("second", second_tab, "tab-2")),
            threading.Thread(target=press, args=("teammate", teammate, "theirs")),
        ]
        for thread in threads:
            thread.start()
        for thread in [first, *threads]:
            thread.join(30)
    finally:
        for client in (first_tab, second_tab, teammate):
            client.close()
    assert answers["first"].status_code == 200
    second = answers["second"].json()
    assert (answers["second"].status_code, second["code"], second["amountCents"]) == (409, "earlier_in_progress", 1500)
    assert second["attempt"] == str(TopupAttempt.objects.get(idempotency_key="tab-1").pk)
    assert answers["teammate"].status_code == 200
    assert sorted((c["amountCents"], c["key"]) for c in charges(sandbox)) == sorted(
        (1500, key) for key in TopupAttempt.objects.values_list("upstream_key", flat=True)
    )
    assert len(charges(sandbox)) == 2  # the first tab's and the teammate's; never the second tab's
    assert set(TopupAttempt.objects.values_list("status", flat=True)) == {Status.SUCCEEDED}
    assert not TopupAttempt.objects.filter(idempotency_key="tab-2").exists()
