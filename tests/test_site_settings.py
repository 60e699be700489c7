"""reef_site's settings from the environment (docs/contract.md section 1), each in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.processes import reef_site_environment

ROOT = Path(__file__).resolve().parent.parent
PRINT = (
    "import django, json; from django.conf import settings as s; django.setup(); "
    "print(json.dumps({'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS, 'db': s.DATABASES['default']['ENGINE'], "
    "'db_name': str(s.DATABASES['default']['NAME']), 'cache': s.CACHES['default']['BACKEND'], "
    "'credits': s.CREDITS, 'key': len(s.SECRET_KEY), 'apps': s.INSTALLED_APPS, "
    "'email': [s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.DEFAULT_FROM_EMAIL]}))"
)


def run(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PRINT],
        cwd=ROOT,
        env=reef_site_environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def settings_for(**env: str) -> dict:
    result = run(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_without_a_secret_key_and_debug_off_start_up_fails_clearly():
    result = run()
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_defaults():
    got = settings_for(SECRET_KEY="k" * 50)
    assert got["debug"] is False
    assert got["hosts"] == ["localhost", "127.0.0.1"]
    assert got["db"] == "django.db.backends.sqlite3"
    assert got["db_name"] == str(ROOT / "db.sqlite3")
    assert got["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert got["email"][0] == "django.core.mail.backends.dummy.EmailBackend"  # DEBUG off, no EMAIL_URL
    assert got["credits"] == {
        "LANDING_URL": "https://vers.sh",
        "AUTH_TOKEN": None,
        "TIMEOUT": 20.0,
        "SANDBOX": False,
        "TOPUP_PERMISSION": None,
        "TOPUP_CONTACT": "",
        "ASYNC_VIEWS": True,
        "SITE_URL": "",
    }


def test_the_sandbox_is_installed_only_where_it_is_asked_for():
    assert "credits.testing" not in settings_for(SECRET_KEY="k" * 50)["apps"]
    assert "credits.testing" in settings_for(SECRET_KEY="k" * 50, VERS_SANDBOX="on")["apps"]


def test_debug_generates_a_development_key():
    assert settings_for(DEBUG="on")["key"] >= 50


def test_everything_from_the_environment():
    got = settings_for(
        SECRET_KEY="k" * 50,
        ALLOWED_HOSTS="reef.example.com,.reef.test",
        DATABASE_URL="postgres://u:p@127.0.0.1:5432/reef",
        CACHE_URL="redis://127.0.0.1:6379/1",
        VERS_LANDING_URL="https://landing.example.com",
        VERS_AUTH_TOKEN="tok",
        VERS_LANDING_TIMEOUT="7.5",
        VERS_SANDBOX="on",
        CREDITS_TOPUP_PERMISSION="credits.top_up",
        CREDITS_TOPUP_CONTACT="Ask Ada.",
        REEF_SERVER="wsgi",
        CREDITS_SAMPLE_MINUTES="2",
        CREDITS_WARN_HOURS="4",
        CREDITS_LOW_BALANCE_DOLLARS="20",
        CREDITS_ALERT_EMAILS="ops@example.com, ada@example.com",
        CREDITS_ALERT_WEBHOOK_URL="https://hooks.example.com/T0/B0/x",
        CREDITS_ALERT_WEBHOOK_SECRET="s3cret",
        SITE_URL="https://reef.example.com",
        EMAIL_URL="smtp+tls://mailer:pw@smtp.example.com:587",
        DEFAULT_FROM_EMAIL="reef <credits@reef.example.com>",
    )
    assert got["hosts"] == ["reef.example.com", ".reef.test"]
    assert got["db"] == "django.db.backends.postgresql"
    assert got["cache"] == "django_redis.cache.RedisCache"  # one connection pool per process
    assert got["credits"] == {
        "LANDING_URL": "https://landing.example.com",
        "AUTH_TOKEN": "tok",
        "TIMEOUT": 7.5,
        "SANDBOX": True,
        "TOPUP_PERMISSION": "credits.top_up",
        "TOPUP_CONTACT": "Ask Ada.",
        "ASYNC_VIEWS": False,  # served by WSGI, as reef_site/wsgi.py says
        "SITE_URL": "https://reef.example.com",
        "SAMPLE_MINUTES": 2.0,
        "WARN_HOURS": 4.0,
        "LOW_BALANCE_DOLLARS": 20.0,
        "ALERT_EMAILS": "ops@example.com, ada@example.com",  # split by the app (credits.conf)
        "ALERT_WEBHOOK_URL": "https://hooks.example.com/T0/B0/x",
        "ALERT_WEBHOOK_SECRET": "s3cret",
    }
    assert got["email"] == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        587,
        "reef <credits@reef.example.com>",
    ]


def test_check_deploy_reports_a_missing_token():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=reef_site_environment(SECRET_KEY="k" * 60),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "credits.W001" in result.stdout + result.stderr


def test_logging_and_the_log_in_settings_are_loaded_as_before():
    got = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import django, json; from django.conf import settings as s; django.setup(); "
                "from reef_site.conf import get_settings; from chat.conf import get_settings as chat; "
                "print(json.dumps({'levels': {n: c['level'] for n, c in s.LOGGING['loggers'].items() if 'level' in c}, "
                "'filters': s.LOGGING['handlers']['console']['filters'], 'links': get_settings().SECONDS, "
                "'staff': get_settings().FOR_STAFF, 'spend': chat().SPEND_CENTS, 'apps': s.INSTALLED_APPS, "
                "'axes': s.AXES_LOCKOUT_CALLABLE}))",
            ],
            cwd=ROOT,
            env=reef_site_environment(SECRET_KEY="k" * 50, LOG_LEVEL="debug"),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    )
    assert {got["levels"][name] for name in ("django", "credits", "chat", "reef_site")} == {"DEBUG"}
    assert got["filters"] == ["redact", "throttle"]  # no secret, and no flood during an outage
    assert (got["links"], got["staff"], got["spend"]) == (600, False, 25)
    assert "reef_site" in got["apps"]  # its commands (magic_link, demo_user) and the log-in link model
    assert got["axes"] == "reef_site.magic.lockout_response"


def test_the_settings_module_stays_short():
    # 320 until the notices' email and alert settings came
    assert len((ROOT / "reef_site" / "settings.py").read_text().splitlines()) < 330
