"""Logging filters: no secret reaches a log line, and an outage does not flood the log.

``RedactSecrets`` removes the landing's bearer token (``settings.CREDITS["AUTH_TOKEN"]``) and
the secret part of log-in links from a record's message, its arguments, its exception text
and its stack before any handler writes it. ``AccessLogPaths`` keeps query strings and
log-in link secrets out of the server's access log (uvicorn's ``uvicorn.access`` records).
``Throttle`` lets a failure that repeats on every request (the cache or the database down)
through once a minute.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import traceback
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"

# The secret of a log-in link (reef_site.magic: /auth/magic-link/<secret>) is a password for ten
# minutes: keep the address, not the secret.
SECRET_PATHS = re.compile(r"(/auth/magic-link/)[^/?#\s\"']+")


def _token() -> str | None:
    """The landing's token, read at call time (tests and override_settings change it)."""
    try:
        from django.conf import settings

        token = (getattr(settings, "CREDITS", None) or {}).get("AUTH_TOKEN")
    except Exception:  # settings not configured (yet): nothing to redact
        return None
    # A very short value would redact ordinary words; a real token is long.
    return token if isinstance(token, str) and len(token) >= 8 else None


def redact(text: str, token: str | None = None) -> str:
    """``text`` without the token and without log-in link secrets."""
    token = token if token is not None else _token()
    if token and token in text:
        text = text.replace(token, REDACTED)
    return SECRET_PATHS.sub(rf"\g<1>{REDACTED}", text)


class RedactSecrets(logging.Filter):
    """Redacts secrets from every record it sees; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        token = _token()
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: leave it to the handler
            message = None
        if message is not None and redact(message, token) != message:
            # The formatted message carried a secret (in the message or an argument): keep
            # the redacted text only, so no handler formats the arguments again.
            record.msg, record.args = redact(message, token), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text, token)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, token)
        return True


class AccessLogPaths(logging.Filter):
    """For uvicorn's access records (``'%s - "%s %s HTTP/%s" %d'``): the path without its
    query string (which may carry anything) and without log-in link secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        args: Any = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path = args[2].split("?", 1)[0]
            record.args = (args[0], args[1], redact(path), *args[3:])
        return True


class Throttle(logging.Filter):
    """At most one record a ``seconds`` for each message of the named loggers (and theirs below):
    with the cache or the database down, every request fails the same way, and a traceback
    for each would bury everything else. The next one let through says how many were held
    back, so the log still tells how long and how hard it went on. Per process; records of
    other loggers pass untouched."""

    def __init__(self, loggers: Iterable[str] = (), seconds: float = 60.0) -> None:
        super().__init__()
        self.loggers = tuple(loggers)
        self.seconds = seconds
        self._lock = threading.Lock()
        # (logger, message) -> (when one was last let through, how many held back since)
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not any(record.name == name or record.name.startswith(f"{name}.") for name in self.loggers):
            return True
        key, now = (record.name, str(record.msg)), time.monotonic()
        with self._lock:
            last, held = self._seen.get(key, (now, 0))
            if key in self._seen and now - last < self.seconds:
                self._seen[key] = (last, held + 1)
                return False
            if len(self._seen) >= 1000:  # messages that vary: forget rather than grow
                self._seen.clear()
            self._seen[key] = (now, 0)
        if held:
            try:
                message = record.getMessage()
            except Exception:  # arguments that do not fit the format: the handler reports it
                return True
            record.msg, record.args = f"{message} (and {held} more like it in the last {now - last:.0f} s)", None
        return True


def install_server_filters() -> None:
    """Add the filters to the server's own loggers (gunicorn's and uvicorn's), once.

    reef_site.gunicorn.conf.py's worker calls this; Django's LOGGING covers Django's loggers."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogPaths) for f in access.filters):
        access.addFilter(AccessLogPaths())  # first: it needs the record's arguments as uvicorn made them
    for name in ("uvicorn.access", "uvicorn.error", "gunicorn.error", "gunicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
