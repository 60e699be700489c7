"""Settings for the test suite: reef_site's, with a test token and fast hashing."""

import os
import secrets
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "tests-only-" + secrets.token_hex(16))

from reef_site.settings import *  # noqa: F403
from reef_site.settings import DATABASES, INSTALLED_APPS

if "credits.testing" not in INSTALLED_APPS:  # the sandbox landing and its command, for the tests
    INSTALLED_APPS = [*INSTALLED_APPS, "credits.testing"]

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A token unlike any real one, different on every run, so tests can search output for it.
TEST_TOKEN = "sk-reef-test-" + secrets.token_hex(12)

# Nothing listens on port 9: a test that forgets to point at a landing fails as unreachable.
CREDITS = {
    "LANDING_URL": "http://127.0.0.1:9",
    "AUTH_TOKEN": TEST_TOKEN,
    "TIMEOUT": 2.0,
    "CONNECT_TIMEOUT": 1.0,
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: the live-server tests need real, separate connections per thread.
    # One per process, so two runs at once (or xdist workers) never share a file.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"reef-credits-test-{os.getpid()}.sqlite3")
    }

WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
