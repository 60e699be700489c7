"""Only what the credits app needs, for running its own tests without reef_site (``make test-app``).

Nothing here comes from reef_site's settings: the app is tested as a host site installs it
(docs/contract.md, section 6), mounted under ``api/`` rather than reef_site's ``ui/api/``.
"""

import os
import secrets
import tempfile
from pathlib import Path

SECRET_KEY = "credits-app-tests-only-" + secrets.token_hex(16)
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "credits",
    "credits.testing",
]
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.app.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
# A file, not memory: tests with a live server or threads need real, separate connections.
# One per process, so two runs at once never share a file.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
        # As a host on SQLite should (README): write transactions wait for the lock, not fail.
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        "TEST": {"NAME": str(Path(tempfile.gettempdir()) / f"reef-credits-app-test-{os.getpid()}.sqlite3")},
    }
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "/static/"
LOGIN_URL = "/accounts/login/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A token unlike any real one, different on every run (tests/conftest.py's sandbox uses it).
TEST_TOKEN = "sk-reef-test-" + secrets.token_hex(12)
# Nothing listens on port 9: a test that forgets to point at a landing fails as unreachable.
CREDITS = {
    "LANDING_URL": "http://127.0.0.1:9",
    "AUTH_TOKEN": TEST_TOKEN,
    "TIMEOUT": 2.0,
    "CONNECT_TIMEOUT": 1.0,
}
