"""The site's LOGGING (reef_site.settings): everything to the console (the process manager
collects it), the landing's token and log-in link secrets redacted from every line
(reef_site.logfilters). Server errors (django.request) are logged with DEBUG off too. A
failure that repeats on every request while the cache or the database is down (django-redis's
ignored errors, psycopg's pool failing to connect, the health check's, reef_site.middleware's
503s) reaches the console once a minute per process, with the count of those held back."""

from __future__ import annotations

from typing import Any

# The loggers whose records repeat on every request during an outage (reef_site.logfilters.Throttle).
OUTAGE_LOGGERS = ("django_redis", "psycopg.pool", "reef_site.health", "reef_site.database")


def logging_config(level: str) -> dict[str, Any]:
    """The ``LOGGING`` dict, with the site's own loggers (and Django's) at ``level``."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "redact": {"()": "reef_site.logfilters.RedactSecrets"},
            "throttle": {"()": "reef_site.logfilters.Throttle", "loggers": OUTAGE_LOGGERS, "seconds": 60},
        },
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact", "throttle"]},
            "null": {"class": "logging.NullHandler"},
        },
        "root": {"handlers": ["console"], "level": "WARNING"},
        "loggers": {
            # No handlers of their own: they reach the console through the root logger. This
            # replaces Django's defaults (console only with DEBUG on, mail_admins with it off).
            "django": {"handlers": [], "level": level},
            "django.request": {"handlers": [], "level": level, "filters": ["redact"]},
            "credits": {"handlers": [], "level": level, "filters": ["redact"]},
            "chat": {"handlers": [], "level": level, "filters": ["redact"]},
            # Also the log-in by link (reef_site.magic).
            "reef_site": {"handlers": [], "level": level, "filters": ["redact"]},
            # A request for a host not in ALLOWED_HOSTS (scanners probing the IP address) is
            # answered 400; a traceback for each would bury the real errors.
            "django.security.DisallowedHost": {"handlers": ["null"], "propagate": False},
        },
    }
