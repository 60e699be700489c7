"""Real concurrent requests against a live server and the sandbox landing over HTTP."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from credits.models import Status, TopupAttempt
from tests.processes import logged_in_client


def browser_for(live_server: Any, user: Any) -> httpx.Client:
    return logged_in_client(live_server.url, user, timeout=30)


def post_at_once(requests: list[tuple[httpx.Client, dict[str, Any], str | None]]) -> list[httpx.Response]:
    """Send every request at the same moment, each from its own thread."""
    start = threading.Barrier(len(requests))

    def send(item: tuple[httpx.Client, dict[str, Any], str | None]) -> httpx.Response:
        client, body, key = item
        headers = {"Idempotency-Key": key} if key else {}
        start.wait()
        return client.post("/ui/api/topup-credits", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(send, requests))


@pytest.mark.django_db(transaction=True)
def test_eight_simultaneous_requests_with_one_key_reach_the_landing_once(live_server, sandbox, user):
    sandbox.state.configure(delay=0.5)  # keep the first request in flight while the others arrive
    with browser_for(live_server, user) as browser:
        responses = post_at_once([(browser, {"amountCents": 1000}, "one-key")] * 8)
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) >= 1
        assert set(statuses) <= {200, 409}
        assert all(r.json()["code"] == "in_progress" for r in responses if r.status_code == 409)
        # After it finished, the same key replays the one answer.
        replay = browser.post(
            "/ui/api/topup-credits", json={"amountCents": 1000}, headers={"Idempotency-Key": "one-key"}
        )
    assert replay.headers["Idempotent-Replayed"] == "true"
    state = sandbox.state.snapshot()
    assert state["topupRequests"] == 1
    assert len(state["charges"]) == 1
    assert state["remaining"] == 20.0
    assert TopupAttempt.objects.count() == 1
    assert TopupAttempt.objects.get().status == Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_twelve_users_at_once_three_times(live_server, sandbox, django_user_model):
    users = [django_user_model.objects.create_user(f"user{i}", password="pw") for i in range(12)]
    amounts = [500, 1000, 2500]
    browsers = [browser_for(live_server, u) for u in users]
    try:
        responses = []
        for a in amounts:  # each user's top-ups one after another, everyone's at once
            responses += post_at_once([(b, {"amountCents": a}, f"{n}-{a}") for n, b in enumerate(browsers)])
    finally:
        for browser in browsers:
            browser.close()
    assert [r.status_code for r in responses] == [200] * 36
    state = sandbox.state.snapshot()
    assert len(state["charges"]) == 36
    assert len({c["key"] for c in state["charges"]}) == 36
    assert state["remaining"] == 10.0 + 12 * sum(amounts) / 100
    rows = TopupAttempt.objects.all()
    assert rows.count() == 36
    assert set(rows.values_list("status", flat=True)) == {Status.SUCCEEDED}
    for u in users:
        assert sorted(rows.filter(user=u).values_list("amount_cents", flat=True)) == amounts


@pytest.mark.django_db(transaction=True)
def test_one_users_three_keys_at_once_charge_once(live_server, sandbox, user):
    """Three tabs of one person pressed at the same moment: one goes, the others are told it is
    under way (409 earlier_in_progress), whichever the server claims first."""
    sandbox.state.configure(delay=0.5)
    with browser_for(live_server, user) as browser:
        responses = post_at_once([(browser, {"amountCents": a}, f"tab-{a}") for a in (500, 1000, 2500)])
    assert sorted(r.status_code for r in responses) == [200, 409, 409]
    sent = next(r.json() for r in responses if r.status_code == 200)
    for refused in (r.json() for r in responses if r.status_code == 409):
        assert (refused["code"], refused["attempt"]) == ("earlier_in_progress", sent["attempt"])
    assert [c["amountCents"] for c in sandbox.state.snapshot()["charges"]] == [sent["amountCents"]]
    assert TopupAttempt.objects.count() == 1
