"""GET /ui/api/credits: the team's balance, cached a few seconds, never made up."""

from __future__ import annotations

import httpx
import pytest

from credits.testing import override_transport


def test_the_balance_in_the_landings_shape(sandbox, api):
    sandbox.state.configure(credits=12.5, spend=2.5)
    response = api.balance()
    assert response.status_code == 200
    assert response.json() == {"credits": 12.5, "spend": 2.5, "remaining": 10.0}


def test_a_negative_balance_is_shown_as_it_is(sandbox, api):
    sandbox.state.configure(credits=1, spend=3.25)
    assert api.balance().json()["remaining"] == -2.25


def test_the_balance_is_cached_and_shared_by_users(sandbox, api, other_user):
    from tests.conftest import make_api

    assert api.balance().json()["remaining"] == 10.0
    sandbox.state.configure(spend=4)
    assert make_api(other_user).balance().json()["remaining"] == 10.0  # cached


def test_the_cache_lasts_only_the_configured_seconds(sandbox, api, settings):
    settings.CREDITS = {**settings.CREDITS, "BALANCE_CACHE_SECONDS": 0}
    assert api.balance().json()["remaining"] == 10.0
    sandbox.state.configure(spend=4)
    assert api.balance().json()["remaining"] == 6.0


def test_a_success_without_a_balance_forgets_the_cached_one(api, settings, db):
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": "https://landing.test"}
    state = {"remaining": 1.0}

    def landing(request):
        if request.url.path.endswith("/credits"):
            return httpx.Response(200, json={"credits": 1.0, "spend": 0.0, **state})
        state["remaining"] = 11.0
        return httpx.Response(200, json={"ok": True})

    with override_transport(httpx.MockTransport(landing)):
        assert api.balance().json()["remaining"] == 1.0
        assert api.topup({"amountCents": 1000}).status_code == 200
        assert api.balance().json()["remaining"] == 11.0


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, text="oops"),
        httpx.Response(200, text="<html>"),
        httpx.Response(200, json={"credits": 1.0}),
        httpx.Response(200, json={"credits": "1", "spend": 0, "remaining": 1}),
        httpx.Response(200, json={"credits": True, "spend": 0, "remaining": 1}),
        httpx.Response(200, json=[1, 2, 3]),
        httpx.Response(401, json={"error": "no"}),
        httpx.Response(302, headers={"Location": "https://elsewhere.test"}),
    ],
)
def test_a_bad_answer_is_502_never_a_made_up_zero(api, settings, answer, db):
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": "https://landing.test"}
    with override_transport(httpx.MockTransport(lambda r: answer)):
        response = api.balance()
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_unavailable"


def test_an_unreachable_landing_is_502(api, db):
    response = api.balance()  # the test settings point at a closed port
    assert (response.status_code, response.json()["code"]) == (502, "upstream_unavailable")


def test_no_token_is_503(api, settings, db):
    settings.CREDITS = {**settings.CREDITS, "AUTH_TOKEN": ""}
    response = api.balance()
    assert (response.status_code, response.json()["code"]) == (503, "not_configured")
