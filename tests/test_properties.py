"""Property-based: whatever the body, no 500, and only valid amounts reach the landing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from credits.models import TopupAttempt
from credits.testing import override_transport
from tests.conftest import make_api

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
amounts = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.integers().map(lambda n: n * 100),
    st.sampled_from([500, 100000, 499, 100001, 10**30, -0]),
    json_values,
)
bodies = st.one_of(
    st.fixed_dictionaries({"amountCents": amounts}, optional={"source": json_values, "extra": json_values}).map(
        json.dumps
    ),
    json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.text(max_size=200),
)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def is_valid(raw: str) -> int | None:
    try:
        data = json.loads(raw, parse_constant=_not_json)  # NaN and Infinity are not JSON (RFC 8259)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("source", "api") not in ("header", "inline", "form", "api"):
        return None
    value: Any = data.get("amountCents")
    if isinstance(value, int) and not isinstance(value, bool) and value % 100 == 0 and 500 <= value <= 100000:
        return value
    return None


@pytest.mark.django_db
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=bodies)
@example(raw='{"amountCents": 500, "extra": Infinity}')  # refused: Infinity is not JSON
def test_no_body_gives_a_500_and_only_valid_amounts_go_upstream(user, settings_fixture, raw):
    sent: list[dict[str, Any]] = []

    def landing(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"ok": True})

    TopupAttempt.objects.all().delete()
    with override_transport(httpx.MockTransport(landing)):
        response = make_api(user).topup(raw=raw)
    assert response.status_code in (200, 400)
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) >= ({"ok"} if response.status_code == 200 else {"error", "code"})
    expected = is_valid(raw)
    assert sent == ([] if expected is None else [{"amountCents": expected}])


@pytest.fixture
def settings_fixture(settings):
    settings.CREDITS = {
        **settings.CREDITS,
        "LANDING_URL": "https://landing.test",
        "MAX_ATTEMPTS_PER_HOUR": 10**6,
        "MAX_CENTS_PER_DAY": 10**12,
    }
    return settings
