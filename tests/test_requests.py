"""Who may call, and what a body must be: every refusal is JSON and the landing is untouched."""

from __future__ import annotations

import pytest

from credits.models import TopupAttempt
from tests.conftest import make_api

BAD_AMOUNTS = [
    ('{"amountCents": "1000"}', "invalid_amount"),
    ('{"amountCents": 1000.0}', "invalid_amount"),
    ('{"amountCents": 1e3}', "invalid_amount"),
    ('{"amountCents": 10.5}', "invalid_amount"),
    ('{"amountCents": true}', "invalid_amount"),
    ('{"amountCents": false}', "invalid_amount"),
    ('{"amountCents": null}', "invalid_amount"),
    ('{"amountCents": [1000]}', "invalid_amount"),
    ('{"amountCents": {"value": 1000}}', "invalid_amount"),
    ("{}", "invalid_amount"),
    ('{"amount": 1000}', "invalid_amount"),
    ('{"amountCents": 1050}', "invalid_amount"),  # not whole dollars
    ('{"amountCents": 1001}', "invalid_amount"),
    ('{"amountCents": 400}', "invalid_amount"),  # below the minimum
    ('{"amountCents": 0}', "invalid_amount"),
    ('{"amountCents": -1000}', "invalid_amount"),
    ('{"amountCents": 100100}', "invalid_amount"),  # above the maximum
    ('{"amountCents": 99999999999999999999999}', "invalid_amount"),
    ('{"amountCents": NaN}', "invalid_json"),
    ('{"amountCents": Infinity}', "invalid_json"),
    ('{"amountCents": -Infinity}', "invalid_json"),
    ("[1000]", "invalid_json"),
    ("1000", "invalid_json"),
    ('"1000"', "invalid_json"),
    ("null", "invalid_json"),
    ("", "invalid_json"),
    ("amountCents=1000", "invalid_json"),
    ('{"amountCents": 1000', "invalid_json"),
    ('{"amountCents": 500, "amountCents": 100000}', "invalid_json"),  # duplicate keys are ambiguous
    (b"\xff\xfe{}", "invalid_json"),
    ("[" * 5000 + "]" * 5000, "invalid_json"),  # over 4 KiB
    ('{"amountCents": 1000, "pad": "' + "x" * 4100 + '"}', "invalid_json"),
]


@pytest.mark.parametrize(("raw", "code"), BAD_AMOUNTS)
def test_a_bad_body_is_a_clear_400_and_reaches_nothing(sandbox, api, raw, code):
    response = api.topup(raw=raw)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert body["error"] and "Traceback" not in body["error"]
    assert sandbox.state.snapshot()["topupRequests"] == 0
    assert not TopupAttempt.objects.exists()  # a validation error stores nothing


@pytest.mark.parametrize("cents", [500, 1000, 2500, 5000, 700, 100000])
def test_valid_amounts_are_accepted(sandbox, api, cents):
    assert api.topup({"amountCents": cents}).status_code == 200


def test_a_body_at_4_kib_is_accepted(sandbox, api):
    raw = '{"amountCents": 1000, "pad": "'
    raw += "x" * (4096 - len(raw) - 2) + '"}'
    assert len(raw) == 4096
    assert api.topup(raw=raw).status_code == 200


def test_settings_can_narrow_or_widen_the_range(sandbox, api, settings):
    settings.CREDITS = {**settings.CREDITS, "MIN_AMOUNT_CENTS": 100, "MAX_AMOUNT_CENTS": 2000}
    assert api.topup({"amountCents": 100}).status_code == 200
    response = api.topup({"amountCents": 2500})
    assert (response.status_code, response.json()["error"]) == (400, "A top-up must be from $1 to $20.")


def test_an_unknown_source_is_refused(sandbox, api):
    response = api.topup({"amountCents": 1000, "source": "<img>"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_source")
    assert sandbox.state.snapshot()["topupRequests"] == 0


@pytest.mark.parametrize("key", ["", " ", "a b", "x" * 256, "caf\u00e9", "tab\tkey", "line\nbreak"])
def test_a_bad_idempotency_key_is_refused(sandbox, api, key):
    response = api.client.post(
        "/ui/api/topup-credits",
        data='{"amountCents": 1000}',
        content_type="application/json",
        headers={"X-CSRFToken": api.csrf, "Idempotency-Key": key},
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_idempotency_key")
    assert sandbox.state.snapshot()["topupRequests"] == 0


@pytest.mark.parametrize("key", ["a", "x" * 255, "~!@#$%^&*()_+{}|:<>?", "0f8fad5b-d9cb-469f-a165-70867728950e"])
def test_good_idempotency_keys(sandbox, api, key):
    assert api.topup({"amountCents": 1000}, key=key).status_code == 200


def test_anonymous_gets_401_json_and_reaches_nothing(sandbox, db):
    anonymous = make_api(None)
    response = anonymous.topup({"amountCents": 1000})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert anonymous.balance().status_code == 401
    assert sandbox.state.snapshot()["topupRequests"] == 0


def test_anonymous_without_csrf_still_gets_401(sandbox, db):
    response = make_api(None, csrf=False).topup({"amountCents": 1000})
    assert (response.status_code, response.json()["code"]) == (401, "not_authenticated")


def test_no_csrf_token_gets_403_json_and_reaches_nothing(sandbox, user):
    response = make_api(user, csrf=False).topup({"amountCents": 1000})
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert sandbox.state.snapshot()["topupRequests"] == 0
    assert not TopupAttempt.objects.exists()


def test_a_wrong_csrf_token_gets_403(sandbox, user):
    api = make_api(user)
    response = api.client.post(
        "/ui/api/topup-credits",
        data='{"amountCents": 1000}',
        content_type="application/json",
        headers={"X-CSRFToken": "x" * 32},
    )
    assert (response.status_code, response.json()["code"]) == (403, "csrf_failed")
    assert sandbox.state.snapshot()["topupRequests"] == 0


def test_wrong_methods_get_405_json(sandbox, api):
    assert api.client.get("/ui/api/topup-credits").status_code == 405
    response = api.client.post("/ui/api/credits", headers={"X-CSRFToken": api.csrf})
    assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")


def test_answers_are_never_cached(sandbox, api):
    assert "no-store" in api.topup({"amountCents": 1000})["Cache-Control"]
    assert "no-store" in api.balance()["Cache-Control"]
