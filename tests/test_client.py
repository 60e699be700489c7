"""The landing client: pooled, explicit timeouts, no redirects, the token only in its header."""

from __future__ import annotations

import httpx
import pytest

from credits import __version__, client


def test_one_pooled_client_per_configuration(settings):
    first = client._client()
    assert client._client() is first
    assert first.follow_redirects is False
    assert first.timeout.connect == settings.CREDITS["CONNECT_TIMEOUT"]
    assert first.timeout.read == settings.CREDITS["TIMEOUT"]
    settings.CREDITS = {**settings.CREDITS, "TIMEOUT": 7.0}
    assert client._client() is not first
    assert client._client().timeout.read == 7.0


def test_user_agent_names_the_app_and_version():
    assert client.USER_AGENT.startswith(f"reef-credits/{__version__} ")


def test_no_token_sends_nothing(settings):
    settings.CREDITS = {**settings.CREDITS, "AUTH_TOKEN": None}
    calls = []
    with client.override_transport(httpx.MockTransport(lambda r: calls.append(r) or httpx.Response(200))):
        with pytest.raises(client.LandingNotConfigured):
            client.topup(1000, "k")
        with pytest.raises(client.LandingNotConfigured):
            client.credits()
    assert calls == []


def test_exceptions_chain_from_the_transport_error(settings):
    def fail(request):
        raise httpx.ReadTimeout("late")

    with client.override_transport(httpx.MockTransport(fail)), pytest.raises(client.LandingTimeout) as info:
        client.credits()
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


def test_is_server_token(settings):
    token = settings.CREDITS["AUTH_TOKEN"]
    assert client.is_server_token(token)
    assert not client.is_server_token(token + "x")
    assert not client.is_server_token("")
    assert not client.is_server_token(None)
    settings.CREDITS = {**settings.CREDITS, "AUTH_TOKEN": None}
    assert not client.is_server_token("")
    assert not client.is_server_token(None)


def test_spend_and_credits_paths(settings):
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": "https://landing.test/"}
    seen = []

    def record(request):
        seen.append((request.method, str(request.url), request.content))
        return httpx.Response(200, json={"credits": 1, "spend": 0, "remaining": 1})

    with client.override_transport(httpx.MockTransport(record)):
        assert client.credits().data == {"credits": 1, "spend": 0, "remaining": 1}
        client.spend(25)
    assert seen == [
        ("GET", "https://landing.test/api/reef/credits", b""),
        ("POST", "https://landing.test/api/reef/spend", b'{"amountCents":25}'),
    ]
