"""Getting into the admin (README): `make admin USER=ada`, as printed, in a terminal of its own
(none of make run's variables, no SECRET_KEY), makes ada a staff superuser with a new password
it prints, on the demo's database; and manage.py says a missing SECRET_KEY in one line."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import global_settings
from django.contrib.auth import get_user_model

from tests.processes import ROOT, reef_site_environment
from tests.test_make_link import database_url, make

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the child process writes the user
    pytest.mark.skipif(shutil.which("make") is None, reason="needs make"),
]

PRINTED = re.compile(
    r"^(Created|Updated) the superuser (?P<user>\S+), with a new password\.\n"
    r"Log in at (?P<url>\S+)\n"
    r"  username: (?P=user)\n"
    r"  password: (?P<password>\S+)\n"
    r"The password is shown only here\. A new one \(the old one then stops working\): (?P<again>.+)\n$"
)


def printed(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert result.returncode == 0, result.stdout + result.stderr
    match = PRINTED.match(result.stdout)
    assert match, result.stdout
    return match.groupdict()


@pytest.fixture(autouse=True)
def _site_hashers(settings):
    """The child hashes with reef_site's hashers (Django's), not the suite's fast MD5 alone."""
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS


def logs_in_to_the_admin(client, username: str, password: str) -> bool:
    """Log in on the admin's own log-in page, as a person does, and open the admin."""
    client.logout()
    login = client.post("/admin/login/?next=/admin/", {"username": username, "password": password})
    if login.status_code != 302:
        return False
    index = client.get("/admin/")
    return index.status_code == 200 and "Top-up attempts" in index.content.decode()


def test_make_admin_prints_a_password_that_logs_in_to_the_admin(client):
    first = printed(make("admin", "USER=ada", DATABASE_URL=database_url()))
    assert first["user"] == "ada" and first["url"] == "http://127.0.0.1:8000/admin/"
    assert first["again"] == "make admin USER=ada"
    ada = get_user_model().objects.get(username="ada")
    assert ada.is_active and ada.is_staff and ada.is_superuser
    assert logs_in_to_the_admin(client, "ada", first["password"])

    # Again: the same user, a new password; the old one no longer works.
    second = printed(make("admin", "USER=ada", "PORT=8001", DATABASE_URL=database_url()))
    assert second["url"] == "http://127.0.0.1:8001/admin/" and second["again"] == "make admin USER=ada PORT=8001"
    assert second["password"] != first["password"]
    assert get_user_model().objects.filter(username="ada").count() == 1
    assert not logs_in_to_the_admin(client, "ada", first["password"])
    assert logs_in_to_the_admin(client, "ada", second["password"])


def test_make_admin_makes_an_existing_user_a_superuser_and_ends_its_lockout(client, django_user_model):
    grace = django_user_model.objects.create_user("grace", password="pw-grace-123")
    for _ in range(6):  # past AXES_FAILURE_LIMIT: locked out
        client.post("/admin/login/", {"username": "grace", "password": "wrong"})
    new = printed(make("admin", "USER=grace", DATABASE_URL=database_url()))
    assert new["user"] == "grace"
    grace.refresh_from_db()
    assert grace.is_staff and grace.is_superuser
    assert logs_in_to_the_admin(client, "grace", new["password"])


def test_make_admin_migrates_a_database_it_finds_empty(tmp_path: Path):
    """Before the first make run: it makes the database, then the user, which can log in."""
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    password = printed(make("admin", "USER=ada", DATABASE_URL=url))["password"]
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.contrib.auth.models import User; "
            f"u = User.objects.get(username='ada'); print(u.check_password({password!r}), u.is_superuser, u.is_staff)",
        ],
        cwd=ROOT,
        env=reef_site_environment(DEBUG="on", DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.split() == ["True", "True", "True"]


def test_make_admin_refuses_the_demo_user_and_needs_a_virtualenv(tmp_path: Path):
    demo = make("admin", "USER=demo", DATABASE_URL=database_url())
    assert demo.returncode != 0 and "make admin USER=ada" in demo.stderr and "Traceback" not in demo.stderr
    assert not get_user_model().objects.filter(username="demo", is_staff=True).exists()
    missing = make("admin", f"VENV={tmp_path / 'no-venv'}")
    assert missing.returncode != 0 and "make run" in missing.stderr
    assert not (tmp_path / "no-venv").exists()  # nothing was installed


# --- manage.py without a SECRET_KEY -------------------------------------------------------------


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=reef_site_environment(**env),  # no SECRET_KEY, here or from a .env
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_manage_py_without_a_secret_key_says_so_in_one_line(tmp_path: Path):
    result = manage("check", DATABASE_URL=f"sqlite:///{tmp_path / 'site.sqlite3'}")  # DEBUG off
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "manage.py: SECRET_KEY is not set. Set SECRET_KEY in the environment or in .env beside manage.py "
        "(or set DEBUG=on to use a generated development key)."
    ]


def test_createsuperuser_as_the_readme_shows_it(tmp_path: Path):
    """`DEBUG=on .venv/bin/python manage.py createsuperuser`: here without its questions."""
    url = f"sqlite:///{tmp_path / 'site.sqlite3'}"
    assert manage("migrate", "--no-input", "-v", "0", DEBUG="on", DATABASE_URL=url).returncode == 0
    result = manage(
        "createsuperuser",
        "--no-input",
        "--username",
        "ada",
        "--email",
        "ada@example.com",
        DEBUG="on",
        DATABASE_URL=url,
        DJANGO_SUPERUSER_PASSWORD="pw-ada-for-the-admin-123",
    )
    assert result.returncode == 0, result.stderr
    assert "Superuser created successfully." in result.stdout and "Traceback" not in result.stderr
