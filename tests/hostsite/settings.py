"""A second, minimal host site for the credits app: nothing from reef_site.

It mounts the app under ``billing/api/`` (not reef_site's ``ui/api/``), puts the header
button in its own header and the inline widget in fake chat messages, with its own colours.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent

SECRET_KEY = "hostsite-tests-only-not-a-secret"
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
# Settlement of unknown outcomes runs as a background task: a backend that can run one later.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.hostsite.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [HERE / "templates"],
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
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "/static/"
LOGIN_URL = "/accounts/login/"
# HttpOnly CSRF cookie: the widget must take the token from the page, not the cookie.
CSRF_COOKIE_HTTPONLY = True
CREDITS = {"LANDING_URL": "http://127.0.0.1:9", "AUTH_TOKEN": "hostsite-token"}
