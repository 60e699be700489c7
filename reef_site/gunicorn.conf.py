"""gunicorn's configuration for reef_site in production (`make serve`), from the environment.

    gunicorn -c reef_site/gunicorn.conf.py

runs the ASGI application (reef_site.asgi) in WEB_CONCURRENCY uvicorn worker processes.
Like the settings, it reads the environment and ``.env`` beside manage.py (a variable set in
the environment wins; an empty one counts as unset).
A HUP signal to the master reloads the code gracefully (new workers start, old ones finish
their requests); TERM stops gracefully. Any other gunicorn setting can be given on the
command line or in GUNICORN_CMD_ARGS, which win over this file.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ

_DOTENV = Path(__file__).resolve().parent.parent / ".env"
if _DOTENV.is_file():
    environ.Env.read_env(_DOTENV)


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _on(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in ("1", "true", "yes", "on")


wsgi_app = "reef_site.asgi:application"
worker_class = "reef_site.workers.Worker"  # uvicorn_worker.UvicornWorker, see reef_site/workers.py

_host = os.environ.get("HOST", "").strip() or "0.0.0.0"  # noqa: S104 (all interfaces: a container or behind a proxy)
bind = [f"[{_host}]:{_int('PORT', 8000)}" if ":" in _host else f"{_host}:{_int('PORT', 8000)}"]
workers = _int("WEB_CONCURRENCY", 4)

# A worker whose event loop is stuck this long is killed and replaced. A slow landing call
# (VERS_LANDING_TIMEOUT, 20 s) is awaited, so it never stalls the loop and never counts here.
timeout = _int("GUNICORN_TIMEOUT", 30)
# On TERM or HUP, requests in flight get this long to finish: more than a top-up can take.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Idle keep-alive connections are held this long; keep it above the reverse proxy's own
# upstream idle timeout (nginx: keepalive_timeout 60s), so the proxy never reuses one we closed.
keepalive = _int("GUNICORN_KEEPALIVE", 75)
# Each worker is replaced after about this many requests (the jitter spreads the restarts).
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 100)

# X-Forwarded-For and X-Forwarded-Proto are believed only from these addresses: the reverse
# proxy's ("*" when only the proxy can reach this port).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "").strip() or "127.0.0.1,::1"

# Logs: errors to stderr, the access log to stdout (method, path without its query string,
# status: reef_site.logfilters.AccessLogPaths), or none with ACCESS_LOG=off.
loglevel = os.environ.get("LOG_LEVEL", "").strip().lower() or "info"
errorlog = "-"
accesslog = "-" if _on("ACCESS_LOG", True) else None

# gunicorn 25+ opens a control socket in the home directory by default; several servers on one
# machine (or a read-only home) would fight over it. gunicornc is not needed: signals do the same.
control_socket_disable = True
