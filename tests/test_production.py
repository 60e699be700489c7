"""Serving like production (docs/contract.md section 8): JSON for every answer under the API
prefix, /healthz, secrets kept out of logs, `check --deploy` from the environment, the
Content-Security-Policy, and the site under gunicorn with reef_site/gunicorn.conf.py.

The module is also a URLconf (``@pytest.mark.urls``): reef_site's URLs and handlers plus
views that fail on purpose.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import runpy
import secrets
import shutil
import signal
import subprocess
import sys
import time
from importlib import import_module
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import RequestContext, Template
from django.test import Client
from django.urls import path

from reef_site import urls as site_urls
from reef_site import views as site_views
from reef_site.logfilters import AccessLogPaths, RedactSecrets
from tests.processes import GUNICORN_VARS, free_port, reef_site_environment

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "reef_site" / "gunicorn.conf.py"


# --- a URLconf with views that fail -------------------------------------------------------


def boom(request: HttpRequest) -> HttpResponse:
    token = django_settings.CREDITS["AUTH_TOKEN"]
    raise RuntimeError(f"the landing refused Bearer {token}")


def nonce_page(request: HttpRequest) -> HttpResponse:
    page = Template('<script nonce="{{ CSP_NONCE }}">window.ok = 1;</script>')
    return HttpResponse(page.render(RequestContext(request)))


urlpatterns = [
    path("ui/api/boom", boom),
    path("boom", boom),
    path("nonce", nonce_page),
    *site_urls.urlpatterns,
]
handler400 = site_urls.handler400
handler403 = site_urls.handler403
handler404 = site_urls.handler404
handler500 = site_urls.handler500


class TouchSessionMiddleware:
    """A middleware that reads the user (so the session) before any view runs."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        request.user.is_authenticated  # noqa: B018
        return self.get_response(request)


def assert_json_error(response: Any, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in body["error"]
    return body


# --- every answer under the API prefix is JSON --------------------------------------------


def test_api_prefix_comes_from_one_setting():
    from django.urls import reverse

    assert django_settings.API_PREFIX == "/ui/api/"
    assert reverse("credits:credits").startswith(django_settings.API_PREFIX)


def test_an_unknown_api_address_answers_json_404(client, db):
    assert_json_error(client.get("/ui/api/nope"), 404, "not_found")
    assert_json_error(client.post("/ui/api/nope/deeper", data="{}", content_type="application/json"), 404, "not_found")


def test_a_wrong_method_under_the_api_answers_json_405_with_allow(client, db):
    response = client.get("/ui/api/topup-form")  # a form-posting view behind require_POST
    assert_json_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


def test_the_views_own_json_errors_pass_untouched(client, db):
    response = client.get("/ui/api/credits")
    assert_json_error(response, 401, "not_authenticated")  # the credits app's own answer and code


def test_a_csrf_refusal_under_the_api_is_json_and_html_elsewhere(user, db):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    assert_json_error(browser.post("/ui/api/topup-form", {"amount": "10"}), 403, "csrf_failed")
    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "ada", "password": "x"})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert_site_page(response, "This form has expired")


def test_elsewhere_a_404_is_the_html_page(client, db):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert_site_page(response, "Page not found")


@pytest.mark.urls("tests.test_production")
def test_a_server_error_under_the_api_is_json_logged_and_without_the_token(db, caplog, settings):
    token = settings.CREDITS["AUTH_TOKEN"]
    browser = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = browser.get("/ui/api/boom")
    body = assert_json_error(response, 500, "server_error")
    assert token not in json.dumps(body)
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None  # logged with its traceback...
    assert "RuntimeError: the landing refused Bearer [redacted]" in (record.exc_text or "")
    assert token not in caplog.text  # ...without the token
    assert token not in record.getMessage()


@pytest.mark.urls("tests.test_production")
def test_elsewhere_a_server_error_is_the_html_page(db):
    response = Client(raise_request_exception=False).get("/boom")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert b"Traceback" not in response.content
    assert_site_page(response, "Something went wrong")


def assert_site_page(response: Any, heading: str) -> None:
    """An error page in the site's own look: its stylesheet, header and a heading that says what happened."""
    html = response.content.decode()
    assert '<link rel="stylesheet" href="/static/site.css">' in html
    assert '<header class="site-header">' in html
    assert f"<h1>{heading}</h1>" in html


def _session_store_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    store = import_module(django_settings.SESSION_ENGINE).SessionStore

    def down(self: Any) -> Any:
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    async def adown(self: Any) -> Any:
        down(self)

    monkeypatch.setattr(store, "load", down)
    monkeypatch.setattr(store, "aload", adown)  # async views read the session with aload()


def test_the_database_down_while_reading_the_session_is_json_503_unavailable_and_logged(user, monkeypatch, caplog):
    browser = Client(raise_request_exception=False)
    browser.force_login(user)
    _session_store_fails(monkeypatch)
    with caplog.at_level(logging.ERROR, logger="reef_site.database"):
        body = assert_json_error(browser.get("/ui/api/credits"), 503, "unavailable")
    assert body["error"] == "The service is unavailable right now. Try again in a moment."
    assert "5432" not in json.dumps(body)
    (record,) = [r for r in caplog.records if r.name == "reef_site.database"]
    assert record.exc_info is not None and "Connection refused" in str(record.exc_info[1])
    page = browser.get("/ui/")  # outside the API: the site's error page
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")


def test_the_database_down_in_a_middleware_before_the_view_is_json_500(user, monkeypatch, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.test_production.TouchSessionMiddleware"]
    browser = Client(raise_request_exception=False)
    browser.force_login(user)
    _session_store_fails(monkeypatch)
    assert_json_error(browser.get("/ui/api/recent-topups"), 500, "server_error")
    assert_json_error(browser.get("/ui/api/nope"), 500, "server_error")


# --- /healthz -------------------------------------------------------------------------------


def test_healthz_answers_ok_without_a_session_and_never_cached(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}
    assert "no-store" in response["Cache-Control"]
    assert not response.cookies
    assert client.head("/healthz").status_code == 200


def test_healthz_answers_a_load_balancers_plain_http_probe_by_ip_address(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/accounts/login/").status_code == 301  # everything else goes to https
    response = client.get("/healthz", HTTP_HOST="10.0.3.7")  # not in ALLOWED_HOSTS
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_healthz_through_the_url_alone_is_exempt_from_the_https_redirect(client, db, settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "reef_site.middleware.HealthCheckMiddleware"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200


def test_healthz_with_the_cache_broken_answers_200_degraded_and_logs(client, db, monkeypatch, caplog):
    """The site serves without its cache (sessions from the database, the balance from the
    landing): a load balancer must keep sending it traffic."""

    class BrokenCache:
        def add(self, *args: Any, **kwargs: Any) -> bool:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(site_views, "cache", BrokenCache())
    with caplog.at_level(logging.WARNING, logger="reef_site.health"):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "database": "ok", "cache": "degraded"}
    assert any("cache" in r.getMessage() for r in caplog.records if r.name == "reef_site.health")


def test_healthz_with_a_cache_that_keeps_nothing_answers_200_degraded(client, db, settings):
    """What django-redis set to ignore its errors (reef_site.settings) does with Redis down."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "database": "ok", "cache": "degraded"}


def test_healthz_with_the_database_down_answers_503_and_logs(client, db, monkeypatch, caplog):
    class DownConnection:
        def cursor(self) -> Any:
            raise OperationalError("connection refused")

    monkeypatch.setattr(site_views, "connection", DownConnection())
    with caplog.at_level(logging.ERROR, logger="reef_site.health"):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "down", "database": "down", "cache": "ok"}
    assert any("database" in r.getMessage() for r in caplog.records if r.name == "reef_site.health")


def test_healthz_takes_only_get_and_head(client, db):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


# --- logs -----------------------------------------------------------------------------------


def _logger_with_redaction() -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactSecrets())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(f"tests.redaction.{secrets.token_hex(4)}")
    logger.propagate = False
    logger.addHandler(handler)
    return logger, out


def test_the_redaction_filter_removes_the_token_from_messages_arguments_and_tracebacks(settings):
    token = settings.CREDITS["AUTH_TOKEN"]
    logger, out = _logger_with_redaction()
    logger.warning(f"header was Bearer {token}")
    logger.warning("header was %s, status %d", f"Bearer {token}", 401)
    logger.warning("as a mapping: %(auth)s", {"auth": token})
    logger.warning("as an object: %r", {"headers": {"Authorization": f"Bearer {token}"}})
    try:
        raise ValueError(f"refused {token}")
    except ValueError:
        logger.exception("landing call failed")
    logger.warning("magic link /auth/magic-link/s3cr3t-l1nk opened")
    logger.warning("nothing secret: %s of %d", "three", 4)
    text = out.getvalue()
    assert token not in text
    assert token[-16:] not in text
    assert text.count("[redacted]") == 6
    assert "ValueError: refused [redacted]" in text
    assert "s3cr3t-l1nk" not in text
    assert "/auth/magic-link/[redacted]" in text
    assert "nothing secret: three of 4" in text
    assert "status 401" in text


def test_the_access_log_filter_drops_query_strings_and_link_secrets():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("10.0.0.1:5000", "GET", "/auth/magic-link/abc123?next=/ui/&t=secret", "1.1", 302),
        None,
    )
    assert AccessLogPaths().filter(record)
    assert record.getMessage() == '10.0.0.1:5000 - "GET /auth/magic-link/[redacted] HTTP/1.1" 302'


def test_logging_is_configured_for_production(settings):
    config = settings.LOGGING
    assert "redact" in config["handlers"]["console"]["filters"]
    assert config["root"]["handlers"] == ["console"]
    for name in ("django", "django.request", "credits"):
        assert config["loggers"][name]["level"] == settings.LOG_LEVEL
    # With DEBUG off Django's default sends django.request only to mail_admins; here, the console.
    assert logging.getLogger("django.request").getEffectiveLevel() <= logging.ERROR
    assert not logging.getLogger("django").handlers


# --- settings from the environment and `check --deploy` ------------------------------------


def site_env(tmp_path: Path, **env: str) -> dict[str, str]:
    """reef_site's environment for a child process, on a SQLite file of this test's."""
    return reef_site_environment(DATABASE_URL=f"sqlite:///{tmp_path / 'site.sqlite3'}", **env)


def production_env(tmp_path: Path) -> dict[str, str]:
    """The production environment README documents (Deploying)."""
    return site_env(
        tmp_path,
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="reef.example.com",
        VERS_LANDING_URL="https://vers.sh",
        VERS_AUTH_TOKEN="sk-live-" + secrets.token_hex(16),
        CACHE_URL="redis://127.0.0.1:6379/1",
        SECURE_SSL_REDIRECT="on",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="on",
        SECURE_HSTS_PRELOAD="on",
        SESSION_COOKIE_SECURE="on",
        CSRF_COOKIE_SECURE="on",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
        CSRF_TRUSTED_ORIGINS="https://reef.example.com",
    )


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_check_deploy_is_clean_with_the_documented_production_environment(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_warns_with_the_local_defaults(tmp_path):
    env = site_env(tmp_path, SECRET_KEY=secrets.token_urlsafe(50), VERS_AUTH_TOKEN="sk-" + secrets.token_hex(16))
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    # W010: the session cookie is not secure (Django says W012 when it also finds its own
    # SessionMiddleware by name; reef_site's stands in for it, reef_site/middleware.py).
    for warning in ("security.W004", "security.W008", "security.W010", "security.W016"):
        assert warning in result.stderr


PRINT = (
    "import django, json; from django.conf import settings as s; django.setup(); d = s.DATABASES['default']; "
    "print(json.dumps({'proxy': s.SECURE_PROXY_SSL_HEADER, 'origins': s.CSRF_TRUSTED_ORIGINS, "
    "'ssl': s.SECURE_SSL_REDIRECT, 'hsts': s.SECURE_HSTS_SECONDS, 'session': s.SESSION_ENGINE, "
    "'pool': d.get('OPTIONS', {}).get('pool'), 'max_age': d['CONN_MAX_AGE'], 'checks': d['CONN_HEALTH_CHECKS'], "
    "'connect_timeout': d.get('OPTIONS', {}).get('connect_timeout'), 'cache': s.CACHES['default'].get('OPTIONS'), "
    "'log_ignored': getattr(s, 'DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS', None), 'log': s.LOG_LEVEL}))"
)


def settings_in(env: dict[str, str]) -> dict:
    result = subprocess.run([sys.executable, "-c", PRINT], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_security_settings_default_to_plain_local_http(tmp_path):
    got = settings_in(site_env(tmp_path, SECRET_KEY="k" * 50))
    assert got["proxy"] is None
    assert got["origins"] == []
    assert (got["ssl"], got["hsts"]) == (False, 0)
    assert got["session"] == "django.contrib.sessions.backends.db"  # local memory is not shared by workers
    assert got["pool"] is None
    assert (got["cache"], got["log_ignored"]) == (None, None)  # local memory has no errors to ignore
    assert got["log"] == "INFO"


def test_production_settings_from_the_environment(tmp_path):
    env = production_env(tmp_path)
    env.update(
        DATABASE_URL="postgres://reef@127.0.0.1:5432/reef?conn_max_age=600",
        DATABASE_POOL_MAX_SIZE="20",
        LOG_LEVEL="warning",
        CSRF_TRUSTED_ORIGINS="https://reef.example.com, https://www.reef.example.com",
    )
    got = settings_in(env)
    assert got["proxy"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert got["origins"] == ["https://reef.example.com", "https://www.reef.example.com"]
    assert (got["ssl"], got["hsts"]) == (True, 31536000)
    assert got["session"] == "django.contrib.sessions.backends.cached_db"  # Redis: no query per request
    # Redis down, the site degrades (a read misses, a write is skipped), logged; no call waits long.
    assert got["cache"] == {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5}
    assert got["log_ignored"] is True
    # The database down, a request waits 3 s for a connection, an attempt to connect 3 s.
    assert got["pool"] == {"min_size": 2, "max_size": 20, "timeout": 3.0}
    assert got["connect_timeout"] == 3
    assert got["max_age"] == 0  # a pool and persistent connections do not mix
    assert got["checks"] is True
    assert got["log"] == "WARNING"


def test_the_pool_can_be_turned_off(tmp_path):
    env = production_env(tmp_path)
    env.update(DATABASE_URL="postgres://reef@127.0.0.1:5432/reef?conn_max_age=60", DATABASE_POOL="off")
    got = settings_in(env)
    assert (got["pool"], got["max_age"], got["checks"], got["connect_timeout"]) == (None, 60, True, 3)


def test_the_urls_own_timeouts_win(tmp_path):
    env = production_env(tmp_path)
    env.update(
        DATABASE_URL="postgres://reef@127.0.0.1:5432/reef?connect_timeout=10",
        CACHE_URL="redis://127.0.0.1:6379/1?socket_timeout=2",
        DATABASE_POOL_TIMEOUT="8",
    )
    got = settings_in(env)
    assert (got["connect_timeout"], got["pool"]["timeout"]) == (10, 8.0)
    assert got["cache"] == {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 2}


def test_a_malformed_proxy_ssl_header_fails_clearly(tmp_path):
    env = site_env(tmp_path, SECRET_KEY="k" * 50, SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO")
    result = subprocess.run([sys.executable, "-c", PRINT], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER must be a header and a value" in result.stderr


@pytest.mark.django_db(databases=["default"])
def test_the_connection_is_set_up_for_its_engine_and_serves_requests(settings):
    """PostgreSQL (make test-postgres) runs through psycopg's pool; SQLite takes its write lock at BEGIN."""
    from django.db import connection

    if connection.vendor == "postgresql":
        assert connection.pool is not None
    else:
        assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert Client().get("/healthz").json()["database"] == "ok"


# --- Content-Security-Policy ------------------------------------------------------------------


def test_pages_carry_the_content_security_policy(user):
    browser = Client()
    browser.force_login(user)
    response = browser.get("/ui/")
    assert response.status_code == 200
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"].startswith("'self'")
    assert policy["style-src"] == "'self'"
    assert policy["img-src"] == "'self' data:"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["form-action"] == "'self'"
    assert policy["base-uri"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]


def test_the_site_pages_need_no_inline_script_or_style(user):
    browser = Client()
    browser.force_login(user)
    for url in ("/ui/", "/accounts/login/"):
        html = (browser if url == "/ui/" else Client()).get(url).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", html), url


@pytest.mark.urls("tests.test_production")
def test_an_inline_script_can_use_the_nonce(db):
    response = Client().get("/nonce")
    (nonce,) = re.findall(r'nonce="([^"]+)"', response.content.decode())
    assert f"'nonce-{nonce}'" in response["Content-Security-Policy"]


def test_the_credits_assets_carry_the_nonce_of_the_pages_policy(user):
    browser = Client()
    browser.force_login(user)
    response = browser.get("/ui/")
    html = response.content.decode()
    head = html[: html.index("</head>")]
    (css_nonce,) = re.findall(r'<link rel="stylesheet" href="/static/credits/credits\.css" nonce="([^"]+)">', head)
    (js_nonce,) = re.findall(r'<script src="/static/credits/credits\.js" defer nonce="([^"]+)"></script>', head)
    assert css_nonce == js_nonce
    assert f"'nonce-{js_nonce}'" in response["Content-Security-Policy"]
    assert html.count("credits/credits.css") == html.count("credits/credits.js") == 1


# --- the production server ------------------------------------------------------------------


def gunicorn_config(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """The configuration file's values; empty variables (unset, for the file) mask a developer's .env."""
    for name in GUNICORN_VARS:
        monkeypatch.setenv(name, "")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_the_gunicorn_configuration_defaults(monkeypatch):
    conf = gunicorn_config(monkeypatch)
    assert conf["bind"] == ["0.0.0.0:8000"]
    assert conf["workers"] == 4
    assert conf["worker_class"] == "reef_site.workers.Worker"
    assert conf["wsgi_app"] == "reef_site.asgi:application"
    assert (conf["timeout"], conf["graceful_timeout"]) == (30, 30)
    assert conf["max_requests"] > 0 and conf["max_requests_jitter"] > 0
    assert conf["forwarded_allow_ips"] == "127.0.0.1,::1"
    assert conf["accesslog"] == "-"


def test_the_gunicorn_configuration_from_the_environment(monkeypatch):
    conf = gunicorn_config(
        monkeypatch, PORT="9000", HOST="::", WEB_CONCURRENCY="9", FORWARDED_ALLOW_IPS="10.0.0.2", ACCESS_LOG="off"
    )
    assert conf["bind"] == ["[::]:9000"]
    assert conf["workers"] == 9
    assert conf["forwarded_allow_ips"] == "10.0.0.2"
    assert conf["accesslog"] is None


def test_the_worker_is_uvicorns_without_lifespan():
    from uvicorn_worker import UvicornWorker

    from reef_site.workers import Worker

    assert issubclass(Worker, UvicornWorker)
    assert Worker.CONFIG_KWARGS["lifespan"] == "off"


def test_the_site_under_gunicorn_answers_health_and_json_errors(tmp_path):
    env = site_env(
        tmp_path,
        SECRET_KEY=secrets.token_urlsafe(50),
        VERS_AUTH_TOKEN="sk-" + secrets.token_hex(16),
        HOST="127.0.0.1",
        PORT=str(free_port()),
        WEB_CONCURRENCY="1",
    )
    migrated = manage(env, "migrate", "--no-input", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(CONF)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{env['PORT']}"
    try:
        health = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and server.poll() is None:
            try:
                health = httpx.get(f"{url}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert health is not None, log.read_text()
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "database": "ok", "cache": "ok"}
        missing = httpx.get(f"{url}/ui/api/nope?key=do-not-log-me", timeout=5)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/json"
        assert missing.json()["code"] == "not_found"
        assert "server" not in missing.headers  # no "server: uvicorn"
        wrong = httpx.delete(f"{url}/ui/api/credits", timeout=5)
        assert wrong.headers["content-type"] == "application/json"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
    output = log.read_text()
    assert "reef_site.workers.Worker" in output
    assert '"GET /ui/api/nope HTTP/1.1" 404' in output  # the access log, without the query string
    assert "do-not-log-me" not in output
    assert "lifespan" not in output.lower()
    assert server.returncode == 0, output


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_serve_refuses_without_a_secret_key(tmp_path):
    dotenv = ROOT / ".env"
    if dotenv.exists() and re.search(r"^(export +)?SECRET_KEY *= *[^ #]", dotenv.read_text(), re.M):
        pytest.skip("this checkout's .env sets SECRET_KEY")
    env = site_env(tmp_path)
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", "install", "serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "make serve: SECRET_KEY is not set" in result.stderr
