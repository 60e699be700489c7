"""The sandbox landing speaks the landing's API over HTTP, and the command serves it; its
control endpoints answer only on loopback, and the command binds loopback unless told."""

from __future__ import annotations

import contextlib
import html
import io
import json
import logging
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlencode

import httpx
import pytest
from django.core.management import CommandError, call_command, get_commands

from credits import client as landing_client
from credits.testing import SandboxLanding, SandboxState, is_loopback
from credits.testing.management.commands import sandbox_landing
from credits.testing.server import _Handler

ROOT = Path(__file__).resolve().parent.parent
TOPUP = "/api/reef/topup-credits"
NO_FAULTS = {"late": 0, "drop": 0, "decline": 0}


@pytest.fixture
def http(sandbox, settings):
    token = settings.CREDITS["AUTH_TOKEN"]
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def test_it_checks_the_token(sandbox):
    with httpx.Client(base_url=sandbox.url) as anonymous:
        assert anonymous.get("/api/reef/credits").status_code == 401
        wrong = anonymous.post(
            "/api/reef/topup-credits", json={"amountCents": 1000}, headers={"Authorization": "Bearer nope"}
        )
    assert wrong.status_code == 401
    assert sandbox.state.snapshot()["charges"] == []


def test_topup_credits_and_balance(http):
    assert http.get("/api/reef/credits").json() == {"credits": 10.0, "spend": 0.0, "remaining": 10.0}
    answer = http.post("/api/reef/topup-credits", json={"amountCents": 2500}, headers={"Idempotency-Key": "a"})
    assert answer.json() == {"ok": True, "amountCents": 2500, "credits": 35.0, "spend": 0.0, "remaining": 35.0}


def test_it_honours_idempotency_keys(http, sandbox):
    first = http.post("/api/reef/topup-credits", json={"amountCents": 1000}, headers={"Idempotency-Key": "a"})
    again = http.post("/api/reef/topup-credits", json={"amountCents": 1000}, headers={"Idempotency-Key": "a"})
    other = http.post("/api/reef/topup-credits", json={"amountCents": 5000}, headers={"Idempotency-Key": "a"})
    assert again.json() == first.json()
    assert other.status_code == 422
    assert len(sandbox.state.snapshot()["charges"]) == 1


def test_it_wants_exactly_the_amount(http):
    assert http.post("/api/reef/topup-credits", json={"amountCents": 1000, "x": 1}).status_code == 400
    assert http.post("/api/reef/topup-credits", json={"amountCents": "1000"}).status_code == 400


def test_spend_until_no_credits(http):
    http.post("/sandbox/configure", json={"credits": 0.5})
    assert http.post("/api/reef/spend", json={"amountCents": 30}).json()["remaining"] == 0.2
    assert http.post("/api/reef/spend", json={"amountCents": 30}).json()["remaining"] == pytest.approx(-0.1)
    refused = http.post("/api/reef/spend", json={"amountCents": 30})
    assert (refused.status_code, refused.json()["code"]) == (402, "no_credits")


def test_configure_refuses_an_unknown_mode(http):
    assert http.post("/sandbox/configure", json={"mode": "explode"}).status_code == 400


def _topup(client, key, amount=1000):
    return client.post(TOPUP, json={"amountCents": amount}, headers={"Idempotency-Key": key})


def test_drop_hangs_up_without_charging(http, sandbox):
    http.post("/sandbox/configure", json={"mode": "drop"})
    with pytest.raises(httpx.TransportError):
        _topup(http, "d")
    assert sandbox.state.snapshot()["charges"] == []


def test_drop_after_charge_hangs_up_but_the_charge_is_stored(http, sandbox):
    http.post("/sandbox/configure", json={"mode": "drop_after_charge"})
    with pytest.raises(httpx.TransportError):
        _topup(http, "d")
    assert sandbox.state.snapshot()["charges"] == [{"key": "d", "amountCents": 1000}]
    replay = _topup(http, "d")  # still in drop_after_charge: the stored answer is replayed, not dropped
    assert replay.status_code == 200
    assert replay.json() == {"ok": True, "amountCents": 1000, "credits": 20.0, "spend": 0.0, "remaining": 20.0}
    assert len(sandbox.state.snapshot()["charges"]) == 1


def _held_then_replayed(http, sandbox, token, key):
    """A top-up the sandbox charges at once but answers late, and a retry of its key sent while
    it is held: (the held one's answer, the retry's answer, seconds until the held one answered).
    The retry is answered while the first is still held."""
    with (
        httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {token}"}) as other,
        ThreadPoolExecutor(1) as pool,
    ):
        started = time.monotonic()
        late = pool.submit(_topup, other, key)
        while not sandbox.state.snapshot()["charges"] and time.monotonic() - started < 2:
            time.sleep(0.01)
        replay = _topup(http, key)  # the answer is stored before it is held
        assert not late.done()
        held = late.result()
        return held, replay, time.monotonic() - started


def _faults(client, **faults):
    answer = client.post("/sandbox/configure", json={"faults": faults})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_decline_fault_stores_the_decline_and_is_counted(http, sandbox):
    state = _faults(http, decline=1.0, seed=1)
    assert state["faultConfig"] == {"late": 0.0, "drop": 0.0, "decline": 1.0, "lateSeconds": 2.0, "seed": 1}
    declined = _topup(http, "f")
    assert (declined.status_code, declined.json()["code"]) == (402, "card_declined")
    _faults(http)  # {} turns them off
    assert _topup(http, "f").json() == declined.json()  # the stored decline, though faults are off
    state = sandbox.state.snapshot()
    assert (state["faults"], state["charges"], state["credits"]) == ({**NO_FAULTS, "decline": 1}, [], 10.0)
    assert _topup(http, "g").status_code == 200


def test_a_drop_fault_charges_then_hangs_up(http, sandbox):
    _faults(http, drop=1.0, seed=2)
    with pytest.raises(httpx.TransportError):
        _topup(http, "x")
    replay = _topup(http, "x")  # faults still on, but a replay is never faulted
    assert (replay.status_code, replay.json()["credits"]) == (200, 20.0)
    state = sandbox.state.snapshot()
    assert state["faults"] == {**NO_FAULTS, "drop": 1}
    assert state["charges"] == [{"key": "x", "amountCents": 1000}]


def test_a_late_fault_charges_first_and_answers_late(http, sandbox, settings):
    _faults(http, late=1.0, lateSeconds=0.4, seed=3)
    held, replay, seconds = _held_then_replayed(http, sandbox, settings.CREDITS["AUTH_TOKEN"], "l")
    assert held.json() == replay.json()
    assert seconds >= 0.4
    state = sandbox.state.snapshot()
    assert (state["faults"], len(state["charges"]), state["credits"]) == ({**NO_FAULTS, "late": 1}, 1, 20.0)


def test_faults_spare_replays_bad_requests_and_other_modes(http, sandbox):
    first = _topup(http, "kept")
    _faults(http, decline=1.0)
    assert _topup(http, "kept").json() == first.json()
    assert http.post(TOPUP, json={"amountCents": -1}, headers={"Idempotency-Key": "bad"}).status_code == 400
    assert sandbox.state.snapshot()["faults"] == NO_FAULTS
    assert _topup(http, "new").status_code == 402
    http.post("/sandbox/configure", json={"mode": "not_json"})
    assert _topup(http, "html").headers["content-type"] == "text/html"
    assert sandbox.state.snapshot()["faults"] == {**NO_FAULTS, "decline": 1}


def test_seeded_faults_are_reproducible(http, sandbox):
    _faults(http, decline=0.5, seed=7)
    first = [_topup(http, f"s{i}").status_code for i in range(20)]
    http.post("/sandbox/configure", json={"reset": True, "credits": 10, "faults": {"decline": 0.5, "seed": 7}})
    assert [_topup(http, f"s{i}").status_code for i in range(20)] == first
    assert set(first) == {200, 402}
    assert sandbox.state.snapshot()["faults"] == {**NO_FAULTS, "decline": first.count(402)}


@pytest.mark.parametrize("off", [{"faults": None}, {"faults": {}}, {"reset": True}])
def test_faults_turn_off(http, sandbox, off):
    _faults(http, decline=1.0)
    assert http.post("/sandbox/configure", json=off).json()["faultConfig"] is None
    assert _topup(http, "after").status_code == 200


@pytest.mark.parametrize(
    "faults",
    [
        {"late": 1.5},
        {"drop": -0.1},
        {"late": 0.6, "decline": 0.6},
        {"explode": 0.1},
        {"late": "0.1"},
        {"late": True},
        {"lateSeconds": -1},
        {"seed": 1.5},
        [0.1],
        "drop",
    ],
)
def test_bad_fault_configs_are_refused(http, sandbox, faults):
    _faults(http, late=0.1, drop=0.2, decline=0.7)  # adding up to 1, give or take a rounding
    refused = http.post("/sandbox/configure", json={"faults": faults})
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid")
    assert sandbox.state.snapshot()["faultConfig"]["decline"] == 0.7


def test_the_state_file_survives_a_restart(tmp_path):
    path = tmp_path / "landing.json"
    headers = {"Authorization": "Bearer persist"}
    with (
        SandboxLanding("persist", credits=5, state_file=path) as first,
        httpx.Client(base_url=first.url, headers=headers) as client,
    ):
        charged = _topup(client, "p", 2000)
        client.post("/api/reef/spend", json={"amountCents": 150})
        _faults(client, decline=1.0)
        declined = _topup(client, "q")
    assert (charged.status_code, declined.status_code) == (200, 402)
    assert [p.name for p in tmp_path.iterdir()] == ["landing.json"]  # no temporary file left behind
    with (
        SandboxLanding("persist", credits=99, state_file=path) as second,
        httpx.Client(base_url=second.url, headers=headers) as client,
    ):
        assert client.get("/api/reef/credits").json() == {"credits": 25.0, "spend": 1.5, "remaining": 23.5}
        assert _topup(client, "p", 2000).json() == charged.json()
        assert _topup(client, "q").json() == declined.json()  # stored, though faults did not persist
        state = second.state.snapshot()
    assert state["charges"] == [{"key": "p", "amountCents": 2000}]
    assert (state["faults"], state["faultConfig"], state["topupRequests"]) == ({**NO_FAULTS, "decline": 1}, None, 4)


@pytest.mark.parametrize("content", ["{not json", '{"creditsCents": "lots"}', "[]"])
def test_a_corrupt_state_file_starts_fresh(tmp_path, caplog, content):
    path = tmp_path / "landing.json"
    path.write_text(content)
    state = SandboxState(token="t", credits_cents=400, state_file=path)
    with caplog.at_level(logging.WARNING, logger="credits.sandbox"):
        state.load()
    assert (state.snapshot()["remaining"], state.charges, state.answers) == (4.0, [], {})
    assert "corrupt state file" in caplog.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "reef_site.settings",
    "SECRET_KEY": "k" * 50,
    "VERS_SANDBOX": "on",
}  # as make run


@contextlib.contextmanager
def _command(*options):
    """The sandbox_landing command on a free port, as a client with its token once it answers."""
    port = _free_port()
    command = [sys.executable, "manage.py", "sandbox_landing", "--port", str(port), *options]
    env = {**ENV, "VERS_AUTH_TOKEN": "cmd-token"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer cmd-token"}) as client:
            for _ in range(100):
                assert process.poll() is None, process.communicate()[1]
                try:
                    client.get("/sandbox/state")
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
            yield client
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_management_command_serves_the_landing(tmp_path):
    state_file = str(tmp_path / "cmd.json")
    with _command("--credits", "3", "--mode", "decline", "--state-file", state_file) as client:
        assert client.get("/api/reef/credits").json()["remaining"] == 3.0
        declined = _topup(client, "c")
        assert declined.json()["code"] == "card_declined"
    # killed and started again on the same state file, with a fault on every new key
    with _command("--credits", "50", "--state-file", state_file, "--faults", '{"drop": 1.0, "seed": 1}') as client:
        assert client.get("/api/reef/credits").json()["remaining"] == 3.0
        assert _topup(client, "c").json() == declined.json()
        with pytest.raises(httpx.TransportError):
            _topup(client, "new")
        assert client.get("/sandbox/state").json()["faults"] == {**NO_FAULTS, "drop": 1}
    assert json.loads(Path(state_file).read_text())["charges"] == [{"key": "new", "amountCents": 1000}]


def test_the_command_refuses_bad_faults():
    env = {**ENV, "VERS_AUTH_TOKEN": "cmd-token"}
    for faults in ("{not json", '{"late": 2}'):
        result = subprocess.run(
            [sys.executable, "manage.py", "sandbox_landing", "--port", "0", "--faults", faults],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        assert "--faults" in result.stderr


def test_the_command_and_the_sandbox_only_calls_come_with_credits_testing():
    assert get_commands()["sandbox_landing"] == "credits.testing"
    assert not hasattr(landing_client, "spend") and not hasattr(landing_client, "override_transport")


def test_the_command_needs_a_token():
    env = {**ENV, "VERS_AUTH_TOKEN": ""}
    result = subprocess.run(
        [sys.executable, "manage.py", "sandbox_landing"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "VERS_AUTH_TOKEN" in result.stderr


# --- the control endpoints answer only on loopback; the command binds loopback unless told ---

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (what the command must refuse without --allow-remote)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        (ALL_INTERFACES, False),
        ("::", False),
        ("", False),
        ("10.0.0.5", False),
        ("::ffff:10.0.0.5", False),
        ("192.168.1.20", False),
        ("example.com", False),
    ],
)
def test_what_counts_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


def _from_address(landing, address, request):
    """One raw HTTP request handled by the landing's own handler as if it came from ``address``
    (a real TCP connection on loopback; only the client address the handler is given differs)."""
    with socket.create_server(("127.0.0.1", 0)) as listener, socket.create_connection(listener.getsockname()) as ours:
        theirs, _ = listener.accept()
        with theirs:
            ours.sendall(request)
            _Handler(theirs, (address, 40000), landing._server)
        answer = b""
        while chunk := ours.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _get(path, token=None):
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: sandbox\r\n{auth}Connection: close\r\n\r\n".encode()


def _post(path, body):
    raw = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\nContent-Length: {len(raw)}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + raw


@pytest.mark.parametrize("address", ["203.0.113.9", "10.0.0.5", "::ffff:192.168.1.20", "2001:db8::1"])
def test_the_control_endpoints_refuse_clients_not_on_loopback(sandbox, settings, caplog, address):
    with caplog.at_level(logging.WARNING, logger="credits.sandbox"):
        state = _from_address(sandbox, address, _get("/sandbox/state"))
        configure = _from_address(sandbox, address, _post("/sandbox/configure", {"credits": 1000, "mode": "decline"}))
        other = _from_address(sandbox, address, _get("/sandbox/anything"))
    for status, body in (state, configure, other):
        assert status == 403 and body["code"] == "forbidden" and "loopback" in body["error"]
    assert f"from {address}" in caplog.text
    snapshot = sandbox.state.snapshot()
    assert (snapshot["credits"], snapshot["mode"]) == (10.0, "ok")  # nothing changed
    # The landing's API, which checks the token, still answers there.
    token = settings.CREDITS["AUTH_TOKEN"]
    assert _from_address(sandbox, address, _get("/api/reef/credits", token)) == (
        200,
        {"credits": 10.0, "spend": 0.0, "remaining": 10.0},
    )


@pytest.mark.parametrize("address", ["127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1"])
def test_the_control_endpoints_answer_on_loopback(sandbox, address):
    assert _from_address(sandbox, address, _post("/sandbox/configure", {"credits": 20}))[0] == 200
    status, state = _from_address(sandbox, address, _get("/sandbox/state"))
    assert status == 200 and state["credits"] == 20.0


# --- the control refuses what a web page on this machine can send ----------------------------


@pytest.fixture
def control(sandbox):
    """A client of the sandbox, as a script on this machine is (loopback, no browser's headers),
    and the state the sandbox had before the test sent anything."""
    with httpx.Client(base_url=sandbox.url) as client:
        yield client, client.get("/sandbox/state").json()


DECLINE_EVERYTHING = {"mode": "decline", "remaining": 0, "next": "drop"}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", "mode=decline&remaining=0"),  # a form post
        ("application/x-www-form-urlencoded", json.dumps(DECLINE_EVERYTHING)),  # curl -d without -H
        ("text/plain", json.dumps(DECLINE_EVERYTHING)),  # fetch(url, {mode: "no-cors", body: "..."})
        ("text/plain;charset=UTF-8", json.dumps(DECLINE_EVERYTHING)),
        (
            "multipart/form-data; boundary=x",
            '--x\r\nContent-Disposition: form-data; name="mode"\r\n\r\ndecline\r\n--x--',
        ),
        (None, json.dumps(DECLINE_EVERYTHING)),
    ],
)
def test_a_post_that_is_not_json_changes_nothing(control, content_type, body):
    client, before = control
    headers = {"Content-Type": content_type} if content_type else {}
    refused = client.post("/sandbox/configure", content=body, headers=headers)
    assert refused.status_code == 415 and refused.headers["content-type"] == "application/json"
    assert refused.json()["code"] == "unsupported_media_type"
    assert "Content-Type: application/json" in refused.json()["error"]
    assert client.get("/sandbox/state").json() == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},  # a sandboxed frame, a file:// page
        {"Origin": "http://127.0.0.1:8000"},  # the site itself is another origin too
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_json_post_from_a_web_page_changes_nothing(control, caplog, headers):
    client, before = control
    with caplog.at_level(logging.WARNING, logger="credits.sandbox"):
        refused = client.post("/sandbox/configure", json=DECLINE_EVERYTHING, headers=headers)
    assert refused.status_code == 403 and refused.json()["code"] == "cross_origin"
    assert "web page" in caplog.text and "evil.example" not in caplog.text  # the fact, not the header
    assert client.get("/sandbox/state").json() == before


def test_the_state_is_not_read_for_a_web_page_either(control):
    client, _ = control
    refused = client.get("/sandbox/state", headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403 and refused.json()["code"] == "cross_origin"
    assert "access-control-allow-origin" not in refused.headers


def test_a_preflight_is_never_granted(control):
    client, before = control
    preflight = client.options(
        "/sandbox/configure",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code >= 400 and "access-control-allow-origin" not in preflight.headers
    assert client.get("/sandbox/state").json() == before


@pytest.mark.parametrize("body", ["[]", '"reset"', "null", "{not json", ""])
def test_a_json_body_that_is_not_an_object_changes_nothing(control, body):
    client, before = control
    refused = client.post("/sandbox/configure", content=body, headers={"Content-Type": "application/json"})
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid")
    assert client.get("/sandbox/state").json() == before


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "application/json; charset=utf-8"},
        {"Sec-Fetch-Site": "none"},  # typed into the address bar: not a page's request
        {"Sec-Fetch-Site": "same-origin"},
    ],
)
def test_the_proper_json_post_still_works(control, headers):
    client, before = control
    answer = client.post(
        "/sandbox/configure",
        content=json.dumps(DECLINE_EVERYTHING),
        headers={"Content-Type": "application/json", **headers},
    )
    assert answer.status_code == 200, answer.text
    state = client.get("/sandbox/state").json()
    assert (
        (state["mode"], state["remaining"], state["next"])
        == ("decline", 0.0, "drop")
        != (
            before["mode"],
            before["remaining"],
            before["next"],
        )
    )


def test_the_landing_api_is_unchanged_by_the_control_rules(http, sandbox):
    """The landing's API checks its token instead: a browser's headers do not matter there."""
    answer = http.post(
        TOPUP, json={"amountCents": 1000}, headers={"Idempotency-Key": "o", "Origin": "http://x.example"}
    )
    assert answer.status_code == 200


class _Recording(SandboxLanding):
    """The command's landing, recording the host it was asked for, bound to loopback and not served."""

    hosts: list[str] = []

    def __init__(self, token, host, *args, **kwargs):
        _Recording.hosts.append(host)
        super().__init__(token, "127.0.0.1", *args, **kwargs)

    def serve_forever(self):
        pass

    def stop(self):
        self._server.server_close()  # never served: nothing to shut down


@pytest.fixture
def recording(monkeypatch):
    _Recording.hosts = []
    monkeypatch.setattr(sandbox_landing, "SandboxLanding", _Recording)
    return _Recording.hosts


@pytest.mark.parametrize("host", [ALL_INTERFACES, "::", "192.168.1.20", "example.com"])
def test_the_command_refuses_a_host_not_on_loopback_without_allow_remote(recording, host):
    with pytest.raises(CommandError, match="Add --allow-remote") as refused:
        call_command("sandbox_landing", "--host", host, "--port", "0", stdout=io.StringIO())
    assert repr(host) in str(refused.value)
    assert recording == []  # nothing was bound


def test_the_command_serves_a_remote_host_with_allow_remote_and_loopback_without(recording):
    call_command("sandbox_landing", "--host", ALL_INTERFACES, "--allow-remote", "--port", "0", stdout=io.StringIO())
    call_command("sandbox_landing", "--host", "localhost", "--port", "0", stdout=io.StringIO())
    call_command("sandbox_landing", "--port", "0", stdout=io.StringIO())
    assert recording == [ALL_INTERFACES, "localhost", "127.0.0.1"]


def test_the_command_prints_a_curl_line_that_works(recording, sandbox):
    out = io.StringIO()
    call_command("sandbox_landing", "--port", "0", stdout=out)
    line = next(line for line in out.getvalue().splitlines() if "curl " in line)
    command = line[line.index("curl ") : line.index(" (README")]
    curl = _curl(command)
    port = int(sandbox.url.rsplit(":", 1)[1])
    url = re.sub(r"^http://127\.0\.0\.1:\d+", f"http://127.0.0.1:{port}", curl.url)
    answer = httpx.request(curl.method, url, headers=curl.headers, content=curl.data)
    assert answer.status_code == 200, answer.text
    assert answer.json()["next"] == "decline"


def test_the_command_line_names_the_flag():
    env = {**ENV, "VERS_AUTH_TOKEN": "cmd-token"}
    result = subprocess.run(
        [sys.executable, "manage.py", "sandbox_landing", "--host", ALL_INTERFACES, "--port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "not a loopback address" in result.stderr and "--allow-remote" in result.stderr


# --- controls for trying the failure modes by hand (README, "Try the failure modes") ---------


def test_next_answers_only_the_next_new_topup(http, sandbox):
    assert http.post("/sandbox/configure", json={"next": "decline"}).json()["next"] == "decline"
    declined = _topup(http, "n1")
    assert (declined.status_code, declined.json()["code"]) == (402, "card_declined")
    assert _topup(http, "n1").json() == declined.json()  # its retry gets the stored decline
    assert _topup(http, "n2").status_code == 200  # the one after goes through
    state = sandbox.state.snapshot()
    assert (state["next"], state["mode"], state["charges"]) == (None, "ok", [{"key": "n2", "amountCents": 1000}])


def test_next_is_not_spent_by_replays_or_bad_requests_and_beats_the_faults(http, sandbox):
    assert _topup(http, "old").status_code == 200
    _faults(http, drop=1.0, seed=1)
    http.post("/sandbox/configure", json={"next": "no_card"})
    assert _topup(http, "old").status_code == 200  # a replay: next is still waiting
    assert http.post(TOPUP, json={"amountCents": "1000"}, headers={"Idempotency-Key": "bad"}).status_code == 400
    no_card = _topup(http, "new")
    assert (no_card.status_code, no_card.json()["code"]) == (402, "no_card")
    assert no_card.json()["url"] == f"{sandbox.url}/billing"
    assert sandbox.state.snapshot()["faults"] == NO_FAULTS  # next answered it, no fault was drawn
    with pytest.raises(httpx.TransportError):  # then the faults again
        _topup(http, "newer")


def test_next_late_charges_at_once_and_answers_late_while_a_retry_gets_the_answer(http, sandbox, settings):
    http.post("/sandbox/configure", json={"next": "late", "nextSeconds": 0.5})
    # The retry is what settlement does while the first is still held.
    held, replay, seconds = _held_then_replayed(http, sandbox, settings.CREDITS["AUTH_TOKEN"], "slow")
    assert replay.status_code == 200
    assert held.json() == replay.json()
    assert seconds >= 0.5
    began = time.monotonic()
    assert _topup(http, "quick").status_code == 200 and time.monotonic() - began < 0.4  # only the next one


def test_next_takes_every_mode_and_null_cancels_it(http, sandbox):
    for mode in ("rate_limited", "unauthorized", "requires_action"):
        http.post("/sandbox/configure", json={"next": mode})
        assert _topup(http, f"k-{mode}").status_code == {"rate_limited": 429, "unauthorized": 401}.get(mode, 402)
    http.post("/sandbox/configure", json={"next": "error"})
    assert http.post("/sandbox/configure", json={"next": None}).json()["next"] is None
    assert _topup(http, "after").status_code == 200


def test_remaining_runs_the_credits_out_again(http, sandbox):
    _topup(http, "a", 2500)
    state = http.post("/sandbox/configure", json={"remaining": 0}).json()
    assert (state["credits"], state["spend"], state["remaining"]) == (35.0, 35.0, 0.0)
    refused = http.post("/api/reef/spend", json={"amountCents": 25})
    assert (refused.status_code, refused.json()["code"]) == (402, "no_credits")
    assert http.get("/api/reef/credits").json()["remaining"] == 0.0
    # Up again, without a negative spend.
    state = http.post("/sandbox/configure", json={"remaining": 50}).json()
    assert (state["credits"], state["spend"], state["remaining"]) == (50.0, 0.0, 50.0)


def test_reset_starts_over_from_the_starting_credits(tmp_path):
    with (
        SandboxLanding("r", credits=1, state_file=tmp_path / "s.json") as landing,
        httpx.Client(base_url=landing.url, headers={"Authorization": "Bearer r"}) as client,
    ):
        _topup(client, "a", 2500)
        client.post("/api/reef/spend", json={"amountCents": 100})
        client.post("/sandbox/configure", json={"mode": "decline", "next": "drop", "delay": 2, "faults": {"drop": 1}})
        state = client.post("/sandbox/configure", json={"reset": True}).json()
    assert (state["credits"], state["spend"], state["remaining"]) == (1.0, 0.0, 1.0)
    assert (state["mode"], state["next"], state["delay"], state["faultConfig"], state["charges"]) == (
        "ok",
        None,
        0.0,
        None,
        [],
    )
    assert json.loads((tmp_path / "s.json").read_text())["creditsCents"] == 100  # saved too


@pytest.mark.parametrize(
    "change",
    [
        {"mdoe": "decline"},
        {"next": "explode"},
        {"next": "late", "nextSeconds": -1},
        {"credits": "5"},
        {"remaining": True},
        {"spend": None},
        {"delay": "slow"},
        {"mode": "decline", "runOut": True},
    ],
)
def test_configure_refuses_what_it_does_not_know_and_changes_nothing(http, sandbox, change):
    before = sandbox.state.snapshot()
    refused = http.post("/sandbox/configure", json={"mode": "decline", **change})
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid")
    assert sandbox.state.snapshot() == before


def test_configure_names_the_known_settings(http, sandbox):
    refused = http.post("/sandbox/configure", json={"runOut": True})
    assert "runOut" in refused.json()["error"] and "remaining" in refused.json()["error"]


def _section(title: str) -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index(f"\n## {title}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


def _curls(text: str) -> list[str]:
    """Every ``curl`` command in ``sh`` code blocks of ``text``, joined across ``\\`` lines."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [line.strip() for line in joined.splitlines() if line.strip().startswith("curl ")]
    return commands


def _words(command: str) -> list[str]:
    """A shell command's words, without its comment."""
    return shlex.split(command, comments=True)


class Curl(NamedTuple):
    method: str
    url: str
    headers: httpx.Headers
    data: str | None


def _curl(command: str) -> Curl:
    """What a ``curl`` command line sends, as curl sends it: ``-d`` is a POST and, without a
    ``Content-Type`` header of its own, a form post (``application/x-www-form-urlencoded``);
    ``--json`` is a POST with ``Content-Type`` and ``Accept`` ``application/json``."""
    words = _words(command)
    assert words[0] == "curl"
    method, url, data, headers = None, None, None, httpx.Headers()
    options = iter(words[1:])
    for word in options:
        if word in ("-X", "--request"):
            method = next(options)
        elif word in ("-H", "--header"):
            name, _, value = next(options).partition(":")
            headers[name.strip()] = value.strip()
        elif word in ("-d", "--data", "--data-raw", "--json"):
            data = next(options)
            json_body = word == "--json"
            if json_body or "Content-Type" not in headers:
                headers["Content-Type"] = "application/json" if json_body else "application/x-www-form-urlencoded"
            if json_body:
                headers.setdefault("Accept", "application/json")
        else:
            assert not word.startswith("-"), f"an option this test does not know: {word}"
            url = word
    assert url is not None, command
    return Curl(method or ("POST" if data is not None else "GET"), url, headers, data)


def _run_curl(command: str, port: int) -> httpx.Response:
    """A README ``curl`` command against the sandbox on ``port`` (the README's is 8765)."""
    curl = _curl(command)
    assert curl.url.startswith("127.0.0.1:8765/sandbox/"), curl.url  # the address make run serves it on
    url = f"http://127.0.0.1:{port}{curl.url.removeprefix('127.0.0.1:8765')}"
    return httpx.request(curl.method, url, headers=curl.headers, content=curl.data)


def test_every_command_of_try_the_failure_modes_works_as_printed(sandbox):
    section = _section("Try the failure modes")
    commands = _curls(section)
    bodies = [json.loads(curl.data) for curl in map(_curl, commands) if curl.data is not None]
    asked = {body.get("next") or body.get("mode") for body in bodies} - {None}
    # Every failure mode the section promises, and the controls for running out and starting over.
    assert {"decline", "requires_action", "no_card", "late", "drop_after_charge", "rate_limited"} <= asked
    assert "unauthorized" in asked or "forbidden" in asked
    assert {"remaining": 0} in bodies and any(body.get("reset") for body in bodies)
    port = int(sandbox.url.rsplit(":", 1)[1])
    for command in commands:
        answer = _run_curl(command, port)
        assert answer.status_code == 200, (command, answer.text)
        assert "remaining" in answer.json()
    assert "make link" in section


# --- the billing page, where a decline's link leads ----------------------------------------------


def _billing(sandbox, query: str = "") -> httpx.Response:
    page = httpx.get(f"{sandbox.url}/billing{query}")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html"), page
    return page


def _back(page: httpx.Response) -> str:
    links = re.findall(r'<a href="([^"]*)">Back to the site</a>', page.text)
    assert len(links) == 1, page.text
    return html.unescape(links[0])


def test_the_billing_page_says_what_it_stands_for_and_links_back_to_the_site(sandbox):
    page = _billing(sandbox)
    assert '<html lang="en">' in page.text and "<title>Sandbox billing</title>" in page.text
    words = " ".join(re.sub(r"<[^>]+>", " ", page.text).split())
    assert (
        "This is the sandbox's stand-in for the billing service's page where a real card would be added or "
        "confirmed. No card is needed here" in words
    )
    assert "Try the failure modes" in words  # how to make the next top-up answer otherwise
    assert _back(page) == "http://127.0.0.1:8000/ui/"  # make run's chat


@pytest.mark.parametrize(
    "back", ["http://127.0.0.1:8001/ui/", "http://localhost:8000/ui/credits/?days=7&x=1", "https://127.0.0.1/ui/"]
)
def test_the_billing_page_links_back_to_the_page_named_when_it_is_on_this_machine(sandbox, back):
    assert _back(_billing(sandbox, "?" + urlencode({"back": back}))) == back


@pytest.mark.parametrize(
    "back",
    [
        "https://evil.test/ui/",
        "javascript:alert(1)",
        "//127.0.0.1:8000/ui/",
        "/ui/",
        "ftp://127.0.0.1/",
        "http://127.0.0.1.evil.test/",
        "http://127.0.0.1:8000@evil.test/",  # user info: the host is evil.test
        "http://evil.test\\@127.0.0.1/",  # a backslash: browsers read the host as evil.test
        "http://127.0.0.1:80000/",
        "http://127.0.0.1:8000/ui/ x",
        "http://127.0.0.1:8000/ui/\nx",
    ],
)
def test_the_billing_page_links_to_the_site_for_any_other_back(sandbox, back):
    assert _back(_billing(sandbox, "?" + urlencode({"back": back}))) == "http://127.0.0.1:8000/ui/"


def test_the_billing_page_escapes_what_it_links_back_to(sandbox):
    back = 'http://127.0.0.1:8000/ui/?q="><script>alert(1)</script>'
    page = _billing(sandbox, "?" + urlencode({"back": back}))
    assert "<script>" not in page.text and _back(page) == back
    twice = _billing(sandbox, "?" + urlencode([("back", "http://127.0.0.1:8001/"), ("back", "http://localhost/")]))
    assert _back(twice) == "http://127.0.0.1:8000/ui/"  # one page or none


# --- the demo's limits (reef_site's settings, each in a fresh process) -------------------------

LIMITS = (
    "import django, json; from django.conf import settings as s; django.setup(); "
    "from credits.conf import get_settings; c = get_settings(); "
    "print(json.dumps([c.MAX_ATTEMPTS_PER_HOUR, c.MAX_CENTS_PER_DAY]))"
)


def _limits(**env: str) -> list[int]:
    from tests.processes import reef_site_environment

    result = subprocess.run(
        [sys.executable, "-c", LIMITS],
        cwd=ROOT,
        env=reef_site_environment(SECRET_KEY="k" * 50, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_demo_has_roomy_limits_and_production_keeps_the_defaults():
    assert _limits(DEBUG="on", VERS_SANDBOX="on") == [100, 2_000_000]  # make run
    assert _limits() == [10, 200_000]
    assert _limits(VERS_SANDBOX="on") == [10, 200_000]  # served as in production: the app's defaults
    assert _limits(DEBUG="on") == [10, 200_000]  # a real landing: the app's defaults
