"""The wheel, installed into a fresh virtualenv, works in a host site made from contract section 6.

The wheel is built from a copy of the working tree as tests/test_packaging.py builds it. A new
virtualenv (no pip of its own) gets it from the project's pip with no index, so no network:
the wheel's dependencies (Django, httpx, django-tasks) are those already installed in the
project's virtualenv, which the new one sees through a ``.pth`` file, after its own
site-packages. The host site (settings, one URLconf, one template) lives in a temporary
directory; its ``manage.py migrate`` and a script run with the new virtualenv's Python, far
from the source tree, and the script checks that ``credits`` came from the installed wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import credits
from tests.test_packaging import ROOT, _leave_out

HOST_SETTINGS = """\
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECRET_KEY = "wheel-host-tests-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "credits",  # contract section 6, step 1
    "credits.testing",  # step 5: the sandbox landing, for tests and demos
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "host.urls"
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
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": HERE.parent / "host.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "/static/"
# Step 3; nothing listens on port 9 (the script points LANDING_URL at its sandbox).
CREDITS = {"LANDING_URL": "http://127.0.0.1:9", "AUTH_TOKEN": "wheel-host-token"}
"""

# Step 2: the app's URLconf under a prefix of the host's own.
HOST_URLS = """\
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.views.generic import TemplateView

urlpatterns = [
    path("billing/", include("credits.urls")),
    path("", login_required(TemplateView.as_view(template_name="page.html")), name="home"),
]
"""

# Step 4: the header button.
PAGE = """\
<!doctype html>
<html lang="en"><head><title>Host</title></head>
<body><header>{% load credits %}{% credits_button %}</header><main>Host page</main></body></html>
"""

MANAGE = """\
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "host.settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""

SCRIPT = r"""
import json
import os
import sys
from pathlib import Path

import django

django.setup()

import credits

venv, source = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
installed = Path(credits.__file__).resolve()
assert installed.is_relative_to(venv), f"credits imported from {installed}, not from the new virtualenv {venv}"
assert not installed.is_relative_to(source), installed
assert not any(Path(entry or ".").resolve() == source for entry in sys.path), sys.path
assert credits.__version__ == sys.argv[3], credits.__version__

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse

from credits.testing import SandboxLanding

call_command("check", fail_level="ERROR")

client = Client(enforce_csrf_checks=True)
assert client.get("/").status_code == 302  # the host's own log-in rule
client.force_login(get_user_model().objects.create_user("host", password="pw-host-123"))
page = client.get("/")
assert page.status_code == 200, page.status_code
html = page.content.decode()
assert "+ credits" in html, html
topup_url = reverse("credits:topup-credits")
assert topup_url == "/billing/topup-credits", topup_url
assert "/ui/api/" not in html, html

with SandboxLanding("wheel-host-token") as landing:
    with override_settings(CREDITS={"LANDING_URL": landing.url, "AUTH_TOKEN": "wheel-host-token"}):
        client.cookies["csrftoken"] = "c" * 32
        headers = {"X-CSRFToken": "c" * 32, "Idempotency-Key": "wheel-install-1"}
        answer = client.post(topup_url, {"amountCents": 1000}, content_type="application/json", headers=headers)
        assert answer.status_code == 200, (answer.status_code, answer.content)
        assert answer.json()["ok"] is True, answer.content
        again = client.post(topup_url, {"amountCents": 1000}, content_type="application/json", headers=headers)
        assert again.status_code == 200, (again.status_code, again.content)
        charges = landing.state.snapshot()["charges"]
        assert [charge["amountCents"] for charge in charges] == [1000], charges

print(json.dumps({"credits": str(installed), "charges": len(charges)}))
"""


def _run(command: list[str | Path], env: dict[str, str], cwd: Path, timeout: float = 60) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("source") / "reef-credits"
    shutil.copytree(ROOT, tree, ignore=_leave_out)
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    command += ["--disable-pip-version-check", "--quiet", "--wheel-dir", str(out), str(tree)]
    _run(command, dict(os.environ), cwd=out, timeout=120)
    [path] = out.glob("reef_credits-*.whl")
    return path


def test_the_installed_wheel_works_in_a_host_site(wheel: Path, tmp_path: Path) -> None:
    # The environment of a host, not of this suite: no settings module, no PYTHONPATH to the tree.
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")
    }
    env["PYTHONNOUSERSITE"] = "1"

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], env, cwd=tmp_path)
    python = venv / "bin" / "python"
    site_packages = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], env, tmp_path).strip()
    )
    assert site_packages.is_relative_to(venv), site_packages
    # The project's installed packages, after the new virtualenv's own (so its credits wins).
    # Not its .pth files: the tree is nowhere on the new virtualenv's path.
    (site_packages / "project-packages.pth").write_text(sysconfig.get_path("purelib") + "\n")

    # With its dependencies resolved, from what is installed: no index, no network.
    install = [sys.executable, "-m", "pip", "--python", python, "install", "--no-index", "--disable-pip-version-check"]
    _run([*install, "--quiet", wheel], env, cwd=tmp_path, timeout=120)
    assert (site_packages / "credits" / "__init__.py").is_file()

    host = tmp_path / "site"
    (host / "host" / "templates").mkdir(parents=True)
    (host / "host" / "__init__.py").write_text("")
    (host / "host" / "settings.py").write_text(HOST_SETTINGS)
    (host / "host" / "urls.py").write_text(HOST_URLS)
    (host / "host" / "templates" / "page.html").write_text(PAGE)
    (host / "manage.py").write_text(MANAGE)
    (host / "check_install.py").write_text(SCRIPT)

    env["DJANGO_SETTINGS_MODULE"] = "host.settings"
    _run([python, "manage.py", "migrate", "--no-input", "-v", "0"], env, cwd=host)
    assert (host / "host.sqlite3").is_file()
    out = _run([python, "check_install.py", venv, ROOT, credits.__version__], env, cwd=host)
    assert '"charges": 1' in out, out
