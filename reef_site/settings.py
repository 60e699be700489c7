"""Settings for the reef site, from the environment (and ``.env`` beside manage.py)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from reef_site.logging_config import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)


def _str(name: str, default: str) -> str:
    """The variable's value; an empty one counts as unset."""
    return env.str(name, default="") or default


def _secret_key() -> str:
    key = _str("SECRET_KEY", "")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY in the environment or in .env beside manage.py "
            "(or set DEBUG=on to use a generated development key)."
        )
    # Development only: a key generated once and kept beside manage.py (git ignores it).
    path = BASE_DIR / ".dev-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


def _bool(name: str, default: bool) -> bool:
    return env.bool(name) if _str(name, "") else default


def _int(name: str, default: int) -> int:
    return env.int(name) if _str(name, "") else default


def _float(name: str, default: float) -> float:
    return env.float(name) if _str(name, "") else default


def _list(name: str, default: str = "") -> list[str]:
    """A comma-separated variable as a list, without blanks."""
    return [item.strip() for item in _str(name, default).split(",") if item.strip()]


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = _list("ALLOWED_HOSTS", "localhost,127.0.0.1")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "csp",
    "axes",
    "credits",
    "chat",
    "reef_site",  # the log-in by link (reef_site.magic), its commands magic_link and demo_user
]
# The sandbox landing (its command and the demo's spending) only where it is asked for.
if env.bool("VERS_SANDBOX", default=False):
    INSTALLED_APPS.insert(INSTALLED_APPS.index("credits") + 1, "credits.testing")

# reef_site.middleware's CSP, WhiteNoise, session, locale, common, authentication and messages
# middleware are those of django-csp, WhiteNoise and Django, with their hooks run on the event
# loop under ASGI instead of a thread trip each (reef_site/middleware.py says why).
MIDDLEWARE = [
    # First: answers GET /healthz before the host check, the https redirect and the session.
    "reef_site.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "reef_site.middleware.WhiteNoiseMiddleware",
    "reef_site.middleware.CSPMiddleware",
    # Outside everything that can fail (sessions, CSRF, the views): every answer under
    # API_PREFIX is JSON, also the 403, 404, 405 and 500 of the layers below it.
    "reef_site.middleware.ApiJsonErrorsMiddleware",
    "reef_site.middleware.SessionMiddleware",
    "reef_site.middleware.LocaleMiddleware",
    "reef_site.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "reef_site.middleware.AuthenticationMiddleware",
    "reef_site.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a lockout flagged by django-axes into its answer (reef_site.magic.lockout_response).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "reef_site.urls"
WSGI_APPLICATION = "reef_site.wsgi.application"
ASGI_APPLICATION = "reef_site.asgi.application"  # production: gunicorn with uvicorn workers (make serve)

# Where reef_site mounts the credits API (reef_site.urls): every answer under it is JSON.
API_PREFIX = "/ui/api/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",  # {{ CSP_NONCE }} for an inline <script nonce=...>
            ],
        },
    },
]

DATABASES = {"default": env.db_url_config(_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads or workers write at once: take the write lock at BEGIN and wait for it.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The database down, a connection attempt gives up in seconds, not psycopg's two minutes
    # (libpq's floor is 2 s; DATABASE_URL's ?connect_timeout= wins).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 3)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and _bool("DATABASE_POOL", True):
    # psycopg's connection pool, one per process: a request borrows a connection and gives it
    # back at its end (under ASGI each request runs in its own thread, so persistent
    # per-thread connections would pile up). The pool keeps its own connections open, so
    # CONN_MAX_AGE must be 0 (Django refuses a pool with persistent connections).
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": _int("DATABASE_POOL_MIN_SIZE", 2),
        "max_size": _int("DATABASE_POOL_MAX_SIZE", 10),
        "timeout": _float("DATABASE_POOL_TIMEOUT", 3.0),  # seconds to wait for a connection, then 503
    }
# Check a connection before reusing it (a persistent one, or one the pool lends), so a
# database restart costs no failed request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A redis:// CACHE_URL gets django-redis (django-environ picks it when it is installed): it
# keeps one connection pool per process. Django's own Redis backend makes a new pool, so a
# new connection, for every request served under ASGI.
CACHES = {"default": env.cache_url_config(_str("CACHE_URL", "locmemcache://"))}
if CACHES["default"]["BACKEND"] == "django_redis.cache.RedisCache":
    # Redis down, the site degrades rather than fails: a read misses and a write is skipped, so
    # sessions come from the database and the balance from the landing, and /healthz says
    # "degraded". A Redis that does not answer costs half a second a call at most. Each error
    # is logged, at most once a minute (reef_site.logging_config). CACHE_URL's options win.
    _REDIS_OPTIONS = {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5}
    CACHES["default"]["OPTIONS"] = {**_REDIS_OPTIONS, **CACHES["default"].get("OPTIONS", {})}
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True

# Sessions read from the cache, without a database query per request, when the cache is
# shared by every process (Redis, memcached: CACHE_URL). A process's own memory is not: a
# log-out in one worker would leave the session cached, and valid, in the others. So with
# the default local-memory cache, sessions stay in the database.
_PROCESS_LOCAL_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)
SESSION_ENGINE = (
    "django.contrib.sessions.backends.db"
    if CACHES["default"]["BACKEND"] in _PROCESS_LOCAL_CACHES
    else "django.contrib.sessions.backends.cached_db"
)

# Background work (settling top-ups): Django's Tasks framework, queued in the database and
# run by `python manage.py db_worker`. The queue row is written in the same transaction as
# the top-up it settles, so a crash cannot lose it.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/ui/"
LOGOUT_REDIRECT_URL = "login"

# Failed log-ins are throttled by django-axes: password log-ins (/accounts/login/, the admin's),
# wrong bearer tokens on POST /auth/magic-link and log-in links that cannot log in
# (reef_site.magic). Its backend comes first and only refuses a locked-out client;
# ModelBackend logs in. A username and client address together are locked out after
# AXES_FAILURE_LIMIT failures for AXES_COOLOFF_TIME (429, with Retry-After): one address cannot
# lock a user out everywhere. The address is REMOTE_ADDR, which gunicorn takes from
# X-Forwarded-For only from FORWARDED_ALLOW_IPS.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
# [["username", "ip_address"]], and a log-in link's own count by the link alone (reef_site.magic).
AXES_LOCKOUT_PARAMETERS = "reef_site.magic.lockout_parameters"
AXES_RESET_ON_SUCCESS = True
# A try during a lockout is refused without restarting it: Retry-After is the time that remains.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "reef_site.magic.lockout_response"
# Logged and stored masked (besides the password): people type their password as username; a
# log-in link's secret is posted as "secret".
AXES_SENSITIVE_PARAMETERS = ["username", "secret"]

LANGUAGE_CODE = "en-us"
# The site's own pages (the chat, the log-in) are in English only, so the credits app's German
# catalogue is not offered here: a page half in German would be worse than one in English.
LANGUAGES = [("en", "English")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "reef_site" / "static"]

CREDITS = {
    "LANDING_URL": _str("VERS_LANDING_URL", "https://vers.sh"),
    "AUTH_TOKEN": _str("VERS_AUTH_TOKEN", "") or None,
    "TIMEOUT": float(_str("VERS_LANDING_TIMEOUT", "20")),
    "SANDBOX": "credits.testing" in INSTALLED_APPS,
    # Who may add credits (CONTRACT section 7): unset, every logged-in user; e.g. credits.top_up.
    "TOPUP_PERMISSION": _str("CREDITS_TOPUP_PERMISSION", "") or None,
    "TOPUP_CONTACT": _str("CREDITS_TOPUP_CONTACT", ""),
    # Served by WSGI (reef_site/wsgi.py says so): the API's sync views, no event loop a request.
    "ASYNC_VIEWS": _str("REEF_SERVER", "asgi") != "wsgi",
    "SITE_URL": _str("SITE_URL", ""),  # the site's public address, for the links in emails
}
# The spend history and the warning before the credits run out, where the environment sets them
# (CREDITS_WARN_HOURS=4 and so on; docs/configuration.md); the app's defaults otherwise.
_NUMBERS = ("SAMPLE_MINUTES", "WARN_HOURS", "LOW_BALANCE_DOLLARS")
for _key in (*_NUMBERS, "ALERT_EMAILS", "ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_SECRET"):
    if _value := _str(f"CREDITS_{_key}", ""):  # a number, or text (ALERT_EMAILS: comma-separated)
        CREDITS[_key] = float(_value) if _key in _NUMBERS else _value

# Email (the notices): a django-environ URL such as smtp+tls://user:password@host:587. Unset: the
# console with DEBUG on (make run prints the mails), else nowhere (the notices say so).
vars().update(env.email_url_config(_str("EMAIL_URL", "consolemail://" if DEBUG else "dummymail://")))
DEFAULT_FROM_EMAIL = SERVER_EMAIL = _str("DEFAULT_FROM_EMAIL", "reef credits <credits@localhost>")
EMAIL_TIMEOUT = 10

# The demo on a laptop (`make run`: DEBUG and VERS_SANDBOX on): limits roomy enough to try every
# failure mode of the sandbox by hand (README, "Try the failure modes"). Anywhere else, the
# sandbox or not, the app's defaults hold: 10 top-up attempts an hour and $2,000 a day per user.
DEMO_MAX_ATTEMPTS_PER_HOUR = 100
DEMO_MAX_CENTS_PER_DAY = 2_000_000  # $20,000
if DEBUG and CREDITS["SANDBOX"]:
    CREDITS["MAX_ATTEMPTS_PER_HOUR"] = DEMO_MAX_ATTEMPTS_PER_HOUR
    CREDITS["MAX_CENTS_PER_DAY"] = DEMO_MAX_CENTS_PER_DAY

# Everything to the console, secrets redacted (reef_site.logging_config: the dict and why).
LOG_LEVEL = _str("LOG_LEVEL", "INFO").upper()
LOGGING = logging_config(LOG_LEVEL)

# --- Security: Django's own names, from the environment. The defaults suit plain http on
# localhost (make run, the tests); README's "Deploying" lists the production values, with
# which `manage.py check --deploy` is clean.
SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # a load balancer's plain-http probe
SECURE_HSTS_SECONDS = _int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = _bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = _bool("CSRF_COOKIE_SECURE", False)
CSRF_TRUSTED_ORIGINS = _list("CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "reef_site.views.csrf_failure"  # JSON under API_PREFIX


def _proxy_ssl_header() -> tuple[str, str] | None:
    """``HTTP_X_FORWARDED_PROTO,https`` -> ("HTTP_X_FORWARDED_PROTO", "https"); unset -> None."""
    parts = _list("SECURE_PROXY_SSL_HEADER")
    if not parts:
        return None
    if len(parts) != 2:
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER must be a header and a value, such as HTTP_X_FORWARDED_PROTO,https."
        )
    return parts[0], parts[1]


SECURE_PROXY_SSL_HEADER = _proxy_ssl_header()

# Content-Security-Policy (django-csp): the site's scripts and styles are files of its own; an
# inline <script> needs nonce="{{ CSP_NONCE }}".
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

# With DEBUG on, serve static files straight from the apps (no collectstatic needed).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- chat: the host's chat UI (read at call time by chat.conf.get_settings, with defaults) ---
CHAT = {
    "AGENT": "chat.agents.DemoAgent",
    "OUT_OF_CREDITS_MARKER": "No credits available",
    "SPEND_CENTS": 25,
}
# The log-in by link (reef_site.magic; reef_site.conf has the defaults): valid for 10 minutes,
# not for staff and superusers (they log in with a password).
MAGIC_LINKS = {"SECONDS": 10 * 60, "FOR_STAFF": False}
