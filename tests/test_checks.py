"""System checks, compared by equality (message, hint and id)."""

from __future__ import annotations

from django.core.checks import Error, Warning

from credits.checks import check_settings, check_token


def test_no_token_is_reported_by_the_deploy_check(settings):
    settings.CREDITS = {"AUTH_TOKEN": None}
    assert check_token() == [
        Warning(
            "CREDITS['AUTH_TOKEN'] is not set, so every top-up answers 503 not_configured.",
            hint="Set the landing's bearer token (reef_site reads it from VERS_AUTH_TOKEN).",
            id="credits.W001",
        )
    ]


def test_a_token_passes(settings):
    settings.CREDITS = {"AUTH_TOKEN": "t"}
    assert check_token() == []
    assert check_settings() == []


def test_the_defaults_pass(settings):
    settings.CREDITS = {}
    assert check_settings() == []


def test_an_unknown_key(settings):
    settings.CREDITS = {"TOKEN": "t"}
    (message,) = check_settings()
    assert message.id == "credits.E001"
    assert "unknown key(s) TOKEN" in message.msg
    assert check_token() == []


def test_bad_amount_range(settings):
    settings.CREDITS = {"MIN_AMOUNT_CENTS": 550, "MAX_AMOUNT_CENTS": 100}
    assert check_settings() == [
        Error(
            "CREDITS['MIN_AMOUNT_CENTS'] and ['MAX_AMOUNT_CENTS'] must be whole dollars in cents, "
            "at least 100, with the minimum not above the maximum (they are 550 and 100).",
            id="credits.E002",
        )
    ]


def test_presets_the_rules_refuse(settings):
    settings.CREDITS = {"PRESET_AMOUNTS_CENTS": [500, 250, 200000]}
    assert check_settings() == [
        Error(
            "CREDITS['PRESET_AMOUNTS_CENTS'] has amounts the rules refuse: [250, 200000].",
            hint="Use whole dollars in cents from 500 to 100000.",
            id="credits.E003",
        )
    ]


def test_a_plain_http_landing_with_debug_off(settings):
    settings.DEBUG = False
    settings.CREDITS = {"LANDING_URL": "http://billing.example.com"}
    assert check_settings() == [
        Warning(
            "CREDITS['LANDING_URL'] (http://billing.example.com) is not https while DEBUG is off: "
            "the bearer token would cross the network in clear text.",
            hint="Use the landing's https:// address.",
            id="credits.W002",
        )
    ]
    settings.CREDITS = {"LANDING_URL": "http://127.0.0.1:8765"}  # loopback never leaves the machine
    assert check_settings() == []
    settings.DEBUG = True
    settings.CREDITS = {"LANDING_URL": "http://billing.example.com"}
    assert check_settings() == []
