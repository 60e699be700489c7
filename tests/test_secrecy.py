"""The server's token appears in no response, log line, template, admin page or audit row."""

from __future__ import annotations

import logging

import httpx
import pytest
from django.core import serializers

from credits import client
from credits.models import TopupAttempt
from credits.testing import override_transport
from tests.test_outcomes import ROWS


@pytest.fixture
def token(settings):
    return settings.CREDITS["AUTH_TOKEN"]


@pytest.fixture
def everything_logged(caplog):
    caplog.set_level(logging.DEBUG)  # every logger, httpx's and httpcore's included
    return caplog


def assert_clean(text: str, token: str) -> None:
    assert token not in text
    assert token[-16:] not in text  # nor a piece of it


def test_no_outcome_leaks_the_token(sandbox, api, token, everything_logged, settings):
    settings.CREDITS = {**settings.CREDITS, "TIMEOUT": 0.3}
    seen = []
    for mode, *_ in ROWS:
        sandbox.state.configure(mode=mode)
        response = api.topup({"amountCents": 1000})
        seen.append(response.content.decode() + str(response.headers))
    sandbox.state.configure(mode="ok", delay=1.0)
    seen.append(api.topup({"amountCents": 1000}).content.decode())
    sandbox.state.configure(delay=0)
    seen.append(api.balance().content.decode())
    assert_clean("\n".join(seen), token)
    assert_clean(everything_logged.text, token)
    assert "DEBUG" in {r.levelname for r in everything_logged.records}  # the capture saw httpx's debug lines
    assert_clean(serializers.serialize("json", TopupAttempt.objects.all()), token)


def test_a_landing_that_echoes_the_token_is_redacted(api, settings, token, everything_logged, db):
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": "https://landing.test"}

    def echo(request):
        auth = request.headers["Authorization"]
        return httpx.Response(
            402, json={"error": f"Bad header {auth}", "code": "card_declined", "url": f"https://landing.test/?t={auth}"}
        )

    with override_transport(httpx.MockTransport(echo)):
        response = api.topup({"amountCents": 1000})
    body = response.json()
    assert "[redacted]" in body["error"]
    assert "url" not in body
    assert_clean(response.content.decode(), token)
    assert_clean(serializers.serialize("json", TopupAttempt.objects.all()), token)
    assert_clean(everything_logged.text, token)


def test_the_admin_never_shows_the_token(sandbox, api, admin_client, token):
    api.topup({"amountCents": 1000})
    sandbox.state.configure(mode="decline")
    api.topup({"amountCents": 1000})
    pages = [admin_client.get("/admin/credits/topupattempt/").content.decode()]
    for attempt in TopupAttempt.objects.all():
        pages.append(admin_client.get(f"/admin/credits/topupattempt/{attempt.pk}/change/").content.decode())
    assert all(page for page in pages)
    assert_clean("\n".join(pages), token)


def test_pages_never_carry_the_token(sandbox, api, token):
    for path in ("/ui/", "/accounts/login/"):
        response = api.client.get(path, follow=True)
        assert response.status_code == 200
        assert_clean(response.content.decode(), token)


def test_the_token_is_not_in_the_client_exceptions(settings, db):
    token = settings.CREDITS["AUTH_TOKEN"]

    def fail(request):
        raise httpx.ConnectError(f"refused {request.headers['Authorization']}")

    with override_transport(httpx.MockTransport(fail)), pytest.raises(client.LandingUnreachable) as info:
        client.topup(1000, "k")
    assert token not in str(info.value)
