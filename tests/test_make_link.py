"""`make link`, the way back in beside `make run`: as printed, in a terminal of its own (none of
make run's variables, no SECRET_KEY), it prints a link that logs the demo user in."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

from tests.processes import ROOT, reef_site_environment
from tests.test_chat_magic import press_log_in

pytestmark = pytest.mark.django_db(transaction=True)  # the child process writes the link

LINK = re.compile(r"^http://127\.0\.0\.1:(\d+)(/auth/magic-link/[A-Za-z0-9_-]+)$")


def database_url() -> str:
    """This test's database as a DATABASE_URL, for the child process."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    user, password = quote(db["USER"] or "", safe=""), quote(db["PASSWORD"] or "", safe="")
    return f"postgres://{user}:{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def make(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``make <args>`` in the project, with reef_site's settings from nothing but ``env`` (a
    second terminal's: no DEBUG, no SECRET_KEY) and the login name in USER, as a shell has it."""
    child = reef_site_environment(USER="someone", **env)
    # Not a make inside `make test`; and PORT unset (reef_site_environment masks it as empty for
    # gunicorn, but make would take an empty PORT over its default).
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PORT"):
        child.pop(name, None)
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=ROOT, env=child, capture_output=True, text=True, timeout=60
    )


def printed_link(result: subprocess.CompletedProcess[str]) -> tuple[int, str]:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout  # the link alone: easy to copy, easy to script
    match = LINK.match(lines[0])
    assert match, lines[0]
    return int(match.group(1)), match.group(2)


def logged_in_as(client: Any, path: str) -> str:
    assert press_log_in(client, path).status_code == 302
    return str(client.session["_auth_user_id"])


def test_make_link_prints_a_link_that_logs_the_demo_user_in(client, django_user_model, user):
    demo = django_user_model.objects.create_user("demo")  # as make run's demo_user leaves it
    port, path = printed_link(make("link", DATABASE_URL=database_url()))
    assert port == 8000
    assert logged_in_as(client, path) == str(demo.pk)  # demo, not USER from the environment
    client.logout()
    assert client.get(path).status_code == 400  # single use


def test_make_link_takes_another_user_and_port_on_its_command_line(client, user):
    port, path = printed_link(make("link", "USER=ada", "PORT=8123", DATABASE_URL=database_url()))
    assert port == 8123
    assert logged_in_as(client, path) == str(user.pk)


def test_make_link_says_what_to_do_when_there_is_nobody_to_log_in(tmp_path: Path, user):
    unknown = make("link", "USER=nobody", DATABASE_URL=database_url())
    assert unknown.returncode != 0 and "no active user named 'nobody'" in unknown.stderr
    fresh = make("link", DATABASE_URL=f"sqlite:///{tmp_path / 'not-yet.sqlite3'}")  # before the first make run
    assert fresh.returncode != 0 and "make run" in fresh.stderr and "Traceback" not in fresh.stderr
    assert not (tmp_path / "not-yet.sqlite3").exists()  # no empty database left behind
    (tmp_path / "empty.sqlite3").touch()
    empty = make("link", DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")  # never migrated
    assert empty.returncode != 0 and "make run" in empty.stderr and "Traceback" not in empty.stderr


def test_make_run_prints_make_link_as_the_way_back_in():
    dry = make("-n", "run")
    assert dry.returncode == 0, dry.stderr
    assert "demo_user --url http://127.0.0.1:8000 --another 'make link (" in dry.stdout
    other_port = make("-n", "run", "PORT=8001")
    assert "--another 'make link PORT=8001 (" in other_port.stdout


def test_make_link_needs_no_install_and_says_so_without_a_virtualenv(tmp_path: Path):
    missing = make("link", f"VENV={tmp_path / 'no-venv'}")
    assert missing.returncode != 0 and "make run" in missing.stderr
    assert not (tmp_path / "no-venv").exists()  # nothing was installed
