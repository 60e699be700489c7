"""The sandbox landing speaks the landing's API over HTTP, and the command serves it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_management_command_serves_the_landing():
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "reef_site.settings",
        "SECRET_KEY": "k" * 50,
        "VERS_AUTH_TOKEN": "cmd-token",
    }
    command = [
        sys.executable,
        "manage.py",
        "sandbox_landing",
        "--port",
        str(port),
        "--credits",
        "3",
        "--mode",
        "decline",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        headers = {"Authorization": "Bearer cmd-token"}
        for _ in range(100):
            try:
                balance = httpx.get(f"http://127.0.0.1:{port}/api/reef/credits", headers=headers)
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert balance.json()["remaining"] == 3.0
        declined = httpx.post(
            f"http://127.0.0.1:{port}/api/reef/topup-credits", json={"amountCents": 1000}, headers=headers
        )
        assert declined.json()["code"] == "card_declined"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_command_needs_a_token():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "reef_site.settings", "SECRET_KEY": "k" * 50, "VERS_AUTH_TOKEN": ""}
    result = subprocess.run(
        [sys.executable, "manage.py", "sandbox_landing"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "VERS_AUTH_TOKEN" in result.stderr
