"""The app on its own (``make test-app`` runs this file last, under tests.app.settings).

The chosen tests ran with only what the credits app needs: nothing of reef_site or chat was
imported, the app's URLs are where this site mounts them, and Django's checks are clean.
Only that run collects this folder (tests/conftest.py leaves it out of the host site's).
"""

from __future__ import annotations

import sys

import pytest
from django.core.management import call_command
from django.urls import reverse


def test_nothing_of_the_host_site_was_imported() -> None:
    host = sorted(
        name for name in sys.modules if name.split(".")[0] in ("reef_site", "chat") or name == "tests.settings"
    )
    assert host == []


def test_the_app_is_mounted_under_its_own_prefix() -> None:
    assert reverse("credits:topup-credits") == "/api/topup-credits"
    assert reverse("credits:credits") == "/api/credits"


@pytest.mark.django_db
def test_the_checks_are_clean() -> None:
    call_command("check", fail_level="WARNING", databases=["default"])
