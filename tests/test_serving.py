"""What keeps the site up when the landing is slow: the in-flight cap, a lean claim path, and
a production server (gunicorn with uvicorn workers) in which waiting on the landing holds no thread."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from credits.models import Status, TopupAttempt
from credits.topups import request_topup
from tests.processes import logged_in_client, wait_for


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
    """However many attempts exist: the user's row locked (PostgreSQL; SQLite's write lock does
    it at BEGIN), one read that also finds anything to settle first, the attempt's INSERT, and
    the outcome's UPDATE. The settlement sweep, not the claim, finds an attempt that a crash
    left pending, so the claim queues no task."""
    from datetime import timedelta

    from django.utils import timezone

    request_topup(user, 1000, key="warm")
    for n in range(200):  # older history that no rule reads
        TopupAttempt.objects.create(user=user, amount_cents=500, idempotency_key=f"old-{n}", status=Status.DECLINED)
    TopupAttempt.objects.exclude(idempotency_key="warm").update(created_at=timezone.now() - timedelta(days=3))
    with CaptureQueriesContext(connection) as queries:
        assert request_topup(user, 1000, key="k").status == 200
    # The balance history's sample of the answer's balance (credits.samples) and the look at
    # whether it ends a running-low warning (credits.alerts) are not the top-up's.
    theirs = ("credits_balancesample", "credits_alertstate")
    own = [q["sql"] for q in queries.captured_queries if not any(table in q["sql"] for table in theirs)]
    statements = [sql.split()[0] for sql in own]
    statements = [s for s in statements if s not in ("SAVEPOINT", "RELEASE")]  # the test's own transaction
    lock = ["SELECT"] if connection.features.has_select_for_update else []
    assert statements == [*lock, "SELECT", "INSERT", "UPDATE"]


def test_a_replay_reads_once_and_writes_nothing(sandbox, user):
    request_topup(user, 1000, key="k")
    with CaptureQueriesContext(connection) as queries:
        assert request_topup(user, 1000, key="k").replayed
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert writes == []


# --- With the production server, as processes of their own -------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_slow_landing_does_not_delay_other_requests(sandbox, settings, processes, django_user_model):
    """Twenty top-ups wait on a landing that answers in 4 s, all in ONE server process; the
    chat page and the balance still answer at once: waiting holds no thread."""
    settings.CREDITS = {**settings.CREDITS, "TIMEOUT": 10.0}
    _, url = processes.site()  # one worker process
    users = [django_user_model.objects.create_user(f"user{n}") for n in range(20)]
    sandbox.state.configure(delay=4.0)
    clients = [logged_in_client(url, user, timeout=30) for user in users]
    with ThreadPoolExecutor(len(clients)) as pool:
        waiting = [
            pool.submit(c.post, "/ui/api/topup-credits", json={"amountCents": 1000}, headers={"Idempotency-Key": "k"})
            for c in clients
        ]
        wait_for(lambda: len(sandbox.state.snapshot()["charges"]) == 20, 10, "the top-ups did not reach the landing")
        timings = []
        for _ in range(5):
            for path in ("/ui/", "/ui/api/credits"):
                started = time.monotonic()
                assert clients[0].get(path).status_code == 200
                timings.append(time.monotonic() - started)
        assert not any(f.done() for f in waiting)  # they were all still waiting meanwhile
        # Had each waiting top-up held a thread, these would have waited the landing's 4 s.
        assert max(timings) < 2.0, timings
        assert sorted(f.result().status_code for f in waiting) == [200] * 20
    for c in clients:
        c.close()


@pytest.mark.django_db(transaction=True)
def test_two_servers_on_one_database_charge_eight_same_key_clicks_once(sandbox, user, processes):
    sandbox.state.configure(delay=0.5)  # the first click is still at the landing when the others arrive
    urls = [processes.site()[1], processes.site()[1]]
    clients = [logged_in_client(url, user) for url in urls]
    start = threading.Barrier(8)

    def click(n: int) -> int:
        start.wait()
        response = clients[n % 2].post(
            "/ui/api/topup-credits", json={"amountCents": 2500}, headers={"Idempotency-Key": "one-click"}
        )
        return response.status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(click, range(8)))
    assert set(statuses) <= {200, 409} and 200 in statuses
    assert len(sandbox.state.snapshot()["charges"]) == 1
    assert TopupAttempt.objects.count() == 1
    # After the answer, the same key replays it on either server.
    for c in clients:
        replay = c.post("/ui/api/topup-credits", json={"amountCents": 2500}, headers={"Idempotency-Key": "one-click"})
        assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (200, "true")
        c.close()
    assert len(sandbox.state.snapshot()["charges"]) == 1


@pytest.mark.django_db(transaction=True)
def test_clients_sending_their_headers_slowly_do_not_stall_the_site(processes, user):
    """Twenty connections that dribble half a request line hold no worker: a page still answers."""
    import socket
    from urllib.parse import urlsplit

    _, url = processes.site()  # one worker process
    address = urlsplit(url)
    slow = [socket.create_connection((address.hostname, address.port)) for _ in range(20)]
    try:
        for sock in slow:
            sock.sendall(b"GET /ui/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        with logged_in_client(url, user) as browser:
            started = time.monotonic()
            assert browser.get("/ui/").status_code == 200
            assert time.monotonic() - started < 2.0
    finally:
        for sock in slow:
            sock.close()


@pytest.mark.django_db(transaction=True)
def test_the_server_keeps_its_redis_connections_rather_than_connecting_per_request(sandbox, user, processes):
    """Sessions and the cached balance on Redis, as in production: twenty requests through
    one worker connect to Redis no more (each ASGI request gets its own cache object; they
    share the process's connection pool)."""
    import redis

    database = 12
    _, url = processes.site(REEF_TEST_CACHE_URL=f"redis://127.0.0.1:6379/{database}")
    server = redis.Redis(host="127.0.0.1", port=6379, db=database)
    with logged_in_client(url, user) as browser:
        assert browser.get("/ui/api/credits").status_code == 200  # the worker's pool connects
        before = server.info("stats")["total_connections_received"]
        for _ in range(20):
            assert browser.get("/ui/api/credits").status_code == 200
        after = server.info("stats")["total_connections_received"]
    assert after - before <= 1, f"{after - before} new Redis connections for 20 requests"
