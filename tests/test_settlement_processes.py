"""Settlement with real processes: the site under gunicorn, the db_worker, crashes by SIGKILL.

The sandbox landing runs in this process over real HTTP; the site and the worker are
separate processes on the same test database.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import httpx
import pytest

from credits.models import SettledBy, Status, TopupAttempt
from tests.processes import logged_in_client as browser
from tests.processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fast_settlement(sandbox: Any, settings: Any) -> Any:
    settings.CREDITS = {
        **settings.CREDITS,
        "TIMEOUT": 2.0,
        "PENDING_GRACE_SECONDS": 0.5,
        "SETTLE_BACKOFF_SECONDS": 0.2,
        "SETTLE_SWEEP_SECONDS": 0.2,
    }
    return sandbox


def topup(client: httpx.Client, cents: int, key: str) -> httpx.Response:
    return client.post("/ui/api/topup-credits", json={"amountCents": cents}, headers={"Idempotency-Key": key})


def topup_in_background(client: httpx.Client, cents: int, key: str) -> threading.Thread:
    """Send a top-up whose answer never comes (the site dies): the error is expected."""

    def send() -> None:
        with contextlib.suppress(httpx.TransportError):
            topup(client, cents, key)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def settled(attempt_key: str) -> TopupAttempt | None:
    attempt = TopupAttempt.objects.filter(idempotency_key=attempt_key).first()
    return attempt if attempt is not None and attempt.is_settled else None


def test_an_unknown_outcome_settles_with_no_click(fast_settlement, processes, user):
    fast_settlement.state.configure(delay=3.0)  # charged, then answered after the site stopped waiting
    _, url = processes.site()
    processes.worker()
    with browser(url, user) as client:
        response = topup(client, 2500, "slow")
    assert (response.status_code, response.json()["code"]) == (504, "upstream_timeout")
    fast_settlement.state.configure(delay=0)  # the landing recovers
    attempt = wait_for(lambda: settled("slow"), 20, "the worker did not settle the attempt")
    assert (attempt.status, attempt.first_status, attempt.settled_by) == (
        Status.SUCCEEDED,
        Status.UNKNOWN,
        SettledBy.BACKGROUND,
    )
    assert [c["amountCents"] for c in fast_settlement.state.snapshot()["charges"]] == [2500]


def test_a_site_killed_during_the_landing_call_leaves_an_attempt_that_settles_once(fast_settlement, processes, user):
    fast_settlement.state.configure(delay=1.5)  # the landing charges at once, answers 1.5 s later
    site, url = processes.site()
    with browser(url, user) as client:
        topup_in_background(client, 1000, "crash")
        wait_for(lambda: fast_settlement.state.snapshot()["charges"], 10, "the landing was never called")
        site.kill()
    attempt = TopupAttempt.objects.get(idempotency_key="crash")
    assert attempt.status == Status.PENDING  # the site died before it could write the answer
    fast_settlement.state.configure(delay=0)
    processes.worker()
    attempt = wait_for(lambda: settled("crash"), 20, "the worker did not settle the attempt")
    assert (attempt.status, attempt.first_status, attempt.settled_by) == (
        Status.SUCCEEDED,
        Status.PENDING,
        SettledBy.BACKGROUND,
    )
    assert len(fast_settlement.state.snapshot()["charges"]) == 1
    # The site starts again; the user, not told yet, presses $10 on a new page: nothing more is charged.
    _, url = processes.site()
    with browser(url, user) as client:
        again = topup(client, 1000, "after-restart")
        assert (again.status_code, again.json()["code"]) == (409, "earlier_topup_succeeded")
        assert topup(client, 1000, "later").status_code == 200
    assert len(fast_settlement.state.snapshot()["charges"]) == 2


def test_a_site_killed_after_the_claim_before_the_call_leaves_an_attempt_that_is_charged_once(
    fast_settlement, processes, user
):
    site, url = processes.site(REEF_TEST_DIE_BEFORE_LANDING="1")
    with browser(url, user) as client, pytest.raises(httpx.TransportError):
        topup(client, 1000, "crash")
    # The server's worker process died by SIGKILL; gunicorn starts another, as in production.
    wait_for(lambda: "was sent SIGKILL" in site.output(), 10, "the site's worker did not die")
    attempt = TopupAttempt.objects.get(idempotency_key="crash")
    assert attempt.status == Status.PENDING
    assert fast_settlement.state.snapshot()["topupRequests"] == 0
    processes.worker()
    attempt = wait_for(lambda: settled("crash"), 20, "the worker did not settle the attempt")
    assert (attempt.status, attempt.first_status) == (Status.SUCCEEDED, Status.PENDING)
    assert [c["key"] for c in fast_settlement.state.snapshot()["charges"]] == [attempt.upstream_key]


def test_several_site_and_worker_processes_settle_each_attempt_once(fast_settlement, processes, user, other_user):
    """Two sites and two workers race to settle the same unknown outcomes: one charge each."""
    fast_settlement.state.configure(mode="drop_after_charge")
    _, first = processes.site()
    _, second = processes.site()
    for _worker in range(2):
        processes.worker()
    with browser(first, user) as ada, browser(second, other_user) as bob:
        answers = [topup(ada, 1000, "ada"), topup(bob, 2000, "bob")]
        assert [a.status_code for a in answers] == [502, 502]
        fast_settlement.state.configure(mode="ok")
        with browser(second, user) as ada_elsewhere:
            # A retry of the same key on the other site races the two workers.
            retry = topup(ada_elsewhere, 1000, "ada")
    wait_for(lambda: settled("ada") and settled("bob"), 20, "the workers did not settle both")
    assert retry.status_code in (200, 409)  # settled by the retry, or still in the hands of a worker
    charges = fast_settlement.state.snapshot()["charges"]
    assert sorted(c["amountCents"] for c in charges) == [1000, 2000]
    assert TopupAttempt.objects.filter(status=Status.SUCCEEDED).count() == 2


def test_a_worker_killed_during_a_settlement_leaves_one_that_a_restarted_worker_finds(fast_settlement, processes, user):
    """The settlement task of a worker killed by SIGKILL stays running for good in the queue;
    the try it had begun queued the next one first, so a new worker settles the attempt."""
    fast_settlement.state.configure(delay=4.0)  # charged at once, answered after everyone stopped waiting
    _, url = processes.site()
    with browser(url, user) as client:
        assert topup(client, 2400, "slow").status_code == 504
    worker = processes.worker()
    # The worker's settlement try is under way at the landing, which still answers late: kill it there.
    wait_for(lambda: fast_settlement.state.snapshot()["topupRequests"] >= 2, 20, "the worker never tried")
    worker.kill()
    attempt = TopupAttempt.objects.get(idempotency_key="slow")
    assert attempt.status == Status.UNKNOWN
    fast_settlement.state.configure(delay=0)  # the landing recovers
    processes.worker()
    attempt = wait_for(lambda: settled("slow"), 30, "the restarted worker did not settle the attempt")
    assert (attempt.status, attempt.settled_by) == (Status.SUCCEEDED, SettledBy.BACKGROUND)
    assert [c["amountCents"] for c in fast_settlement.state.snapshot()["charges"]] == [2400]
