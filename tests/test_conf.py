"""CREDITS is read at call time, with defaults, and a mistake names what to set."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from credits.conf import get_settings


def test_defaults():
    with override_settings(CREDITS={}):
        conf = get_settings()
    assert conf.LANDING_URL == "https://vers.sh"
    assert conf.AUTH_TOKEN is None
    assert conf.TIMEOUT == 20.0
    assert (conf.MIN_AMOUNT_CENTS, conf.MAX_AMOUNT_CENTS) == (500, 100_000)
    assert conf.PRESET_AMOUNTS_CENTS == (500, 1000, 2500, 5000)
    assert (conf.MAX_ATTEMPTS_PER_HOUR, conf.MAX_CENTS_PER_DAY) == (10, 200_000)
    assert conf.IDEMPOTENCY_WINDOW_SECONDS == 86_400


def test_read_at_call_time():
    with override_settings(CREDITS={"LANDING_URL": "https://a.test/"}):
        assert get_settings().landing_url == "https://a.test"
    with override_settings(CREDITS={"LANDING_URL": "https://b.test"}):
        assert get_settings().landing_url == "https://b.test"


def test_an_empty_token_is_no_token():
    with override_settings(CREDITS={"AUTH_TOKEN": ""}):
        assert get_settings().AUTH_TOKEN is None


def test_an_unknown_key_names_the_known_ones():
    with (
        override_settings(CREDITS={"TOKEN": "x"}),
        pytest.raises(ImproperlyConfigured, match=r"unknown key.*TOKEN.*AUTH_TOKEN"),
    ):
        get_settings()


def test_not_a_dict():
    with override_settings(CREDITS="token"), pytest.raises(ImproperlyConfigured, match="must be a dict"):
        get_settings()
