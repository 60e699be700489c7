"""The landing client: pooled, explicit timeouts, no redirects, the token only in its header."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from credits import __version__, client
from credits.testing import override_transport, spend

ROOT = Path(__file__).resolve().parent.parent


def run_on_a_new_loop(coro: Any) -> Any:
    """``asyncio.run`` in a thread of its own: the caller's thread may have a loop running
    (Playwright's, after the browser tests)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(10)


def test_one_pooled_client_per_configuration_and_event_loop(settings):
    loop = client._landing.loop()
    assert client._landing.loop() is loop

    async def clients() -> tuple[httpx.AsyncClient, ...]:
        conf = client.get_settings()
        return client._landing.client(conf), client._landing.client(conf)

    first, again = asyncio.run_coroutine_threadsafe(clients(), loop).result(5)
    assert again is first
    assert first.follow_redirects is False
    assert first.timeout.connect == settings.CREDITS["CONNECT_TIMEOUT"]
    assert first.timeout.read is None  # the whole call has a deadline instead
    other_loop, _ = run_on_a_new_loop(clients())  # an async view's own loop gets its own client
    assert other_loop is not first
    settings.CREDITS = {**settings.CREDITS, "CONNECT_TIMEOUT": 0.7}
    assert asyncio.run_coroutine_threadsafe(clients(), loop).result(5)[0] is not first


def test_an_async_caller_awaits_the_landing_on_its_own_loop(settings):
    """No thread between an async view and the landing: the request is sent from the
    caller's own event loop, and the loop's pooled connection is reused."""
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(asyncio.get_running_loop())
        return httpx.Response(200, json={"credits": 1, "spend": 0, "remaining": 1})

    async def two_reads() -> asyncio.AbstractEventLoop:
        await client.acredits()
        await client.acredits()
        return asyncio.get_running_loop()

    with override_transport(httpx.MockTransport(answer)):
        caller = run_on_a_new_loop(two_reads())
    assert seen == [caller, caller]
    assert client._landing.in_flight == 0  # both places in the cap were given back


def test_user_agent_names_the_app_and_version():
    assert client.USER_AGENT.startswith(f"reef-credits/{__version__} ")


def test_no_token_sends_nothing(settings):
    settings.CREDITS = {**settings.CREDITS, "AUTH_TOKEN": None}
    calls = []
    with override_transport(httpx.MockTransport(lambda r: calls.append(r) or httpx.Response(200))):
        with pytest.raises(client.LandingNotConfigured):
            client.topup(1000, "k")
        with pytest.raises(client.LandingNotConfigured):
            client.credits()
    assert calls == []


def test_exceptions_chain_from_the_transport_error(settings):
    def fail(request):
        raise httpx.ReadTimeout("late")

    with override_transport(httpx.MockTransport(fail)), pytest.raises(client.LandingTimeout) as info:
        client.credits()
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


def test_landing_calls_past_the_cap_fail_at_once_and_free_their_place(settings):
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": "https://landing.test", "MAX_LANDING_CALLS": 2}
    release = threading.Event()

    async def held(request):
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 5)
        return httpx.Response(200, json={"credits": 1, "spend": 0, "remaining": 1})

    with override_transport(httpx.MockTransport(held)):
        waiting = [client._call(*client._credits_args()), client._call(*client._credits_args())]
        started = time.monotonic()
        with pytest.raises(client.LandingBusy):
            client.credits()
        with pytest.raises(client.LandingBusy):  # an async view's call, on its own loop, too
            run_on_a_new_loop(client.acredits())
        assert time.monotonic() - started < 0.5
        release.set()
        assert [f.result(5).status for f in waiting] == [200, 200]
        assert client.credits().status == 200  # the places are free again
    assert client._landing.in_flight == 0


def test_spend_and_credits_paths(settings):
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": "https://landing.test/"}
    seen = []

    def record(request):
        seen.append((request.method, str(request.url), request.content))
        return httpx.Response(200, json={"credits": 1, "spend": 0, "remaining": 1})

    with override_transport(httpx.MockTransport(record)):
        assert client.credits().data == {"credits": 1, "spend": 0, "remaining": 1}
        spend(25)
    assert seen == [
        ("GET", "https://landing.test/api/reef/credits", b""),
        ("POST", "https://landing.test/api/reef/spend", b'{"amountCents":25}'),
    ]


@pytest.fixture
def dripping_landing():
    """A landing that sends its answer one byte every 0.2 s: every read is quick, the whole is slow."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n" + b" " * 60
                for byte in answer:
                    if stop.is_set():
                        break
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break
                    time.sleep(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    server.close()


@pytest.mark.parametrize(("call", "deadline"), [("topup", "TIMEOUT"), ("credits", "BALANCE_TIMEOUT")])
def test_the_deadline_covers_the_whole_call_against_a_dripping_landing(settings, dripping_landing, call, deadline):
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": dripping_landing, "TIMEOUT": 1.0, "BALANCE_TIMEOUT": 0.5}
    started = time.monotonic()
    with pytest.raises(client.LandingTimeout):
        client.topup(1000, "k") if call == "topup" else client.credits()
    took = time.monotonic() - started
    assert settings.CREDITS[deadline] <= took < settings.CREDITS[deadline] + 0.5


def test_async_callers_wait_without_a_thread(settings):
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": "https://landing.test"}

    async def slow(request):
        await asyncio.sleep(0.3)
        return httpx.Response(200, json={"credits": 1, "spend": 0, "remaining": 1})

    async def many():
        return await asyncio.gather(*(client.acredits() for _ in range(20)))

    with override_transport(httpx.MockTransport(slow)), ThreadPoolExecutor(1) as thread:
        started = time.monotonic()
        answers = thread.submit(asyncio.run, many()).result()  # a thread of its own: no loop runs there
    assert [a.status for a in answers] == [200] * 20
    assert time.monotonic() - started < 1.5  # twenty waits at once, not one after another


# In a fresh process: one async call, then a place in the cap held while the process forks.
AFRESH = """
import asyncio, os, threading
import django
django.setup()
import httpx
from credits import client
from credits.testing import override_transport

answer = lambda request: httpx.Response(200, json={"credits": 1, "spend": 0, "remaining": 1})
with override_transport(httpx.MockTransport(answer)):
    assert asyncio.run(client.acredits()).status == 200
print("landing thread:", any(t.name == "credits-landing" for t in threading.enumerate()))
client._landing.take_slot(1)
child = os.fork()
if child == 0:
    try:
        client._landing.take_slot(1)  # the child's own place: its parent's call is not its own
    finally:
        os._exit(0 if client._landing.in_flight == 1 else 1)
print("child:", os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]))
"""


def test_an_async_caller_starts_no_thread_and_a_forked_child_has_a_cap_of_its_own():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run([sys.executable, "-c", AFRESH], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "landing thread: False" in done.stdout  # that loop is the sync callers' only
    assert "child: 0" in done.stdout
