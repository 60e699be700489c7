"""The no-JavaScript form: whole dollars in, cents out, the amount rules from amounts.py."""

from __future__ import annotations

import pytest

from credits.forms import TopupForm


@pytest.mark.parametrize(("given", "cents"), [("5", 500), ("10", 1000), ("1000", 100_000), (" 12 ", 1200)])
def test_whole_dollars_become_cents(given, cents):
    form = TopupForm({"amount": given, "key": "k-1"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["amount_cents"] == cents
    assert form.cleaned_data["key"] == "k-1"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "Choose an amount or enter a whole number of dollars."),
        ("7.5", "Enter a whole number of dollars, such as 10."),
        ("ten", "Enter a whole number of dollars, such as 10."),
        ("99999999999999", "Enter a whole number of dollars, such as 10."),
        ("3", "A top-up must be from $5 to $1,000."),
        ("1001", "A top-up must be from $5 to $1,000."),
        ("-10", "A top-up must be from $5 to $1,000."),
    ],
)
def test_bad_amounts_say_what_is_wrong(given, message):
    form = TopupForm({"amount": given})
    assert not form.is_valid()
    assert form.errors["amount"] == [message]


def test_the_range_comes_from_settings(settings):
    settings.CREDITS = {**settings.CREDITS, "MIN_AMOUNT_CENTS": 2000}
    form = TopupForm({"amount": "10"})
    assert not form.is_valid()
    assert form.errors["amount"] == ["A top-up must be from $20 to $1,000."]


@pytest.mark.parametrize("key", ["has space", "ü", "x" * 256])
def test_a_bad_key_is_refused(key):
    form = TopupForm({"amount": "10", "key": key})
    assert not form.is_valid()
    assert "key" in form.errors


def test_no_key_is_allowed():
    form = TopupForm({"amount": "10"})
    assert form.is_valid()
    assert form.cleaned_data["key"] == ""
