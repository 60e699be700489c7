"""The credits app in a second host site (tests/hostsite), run in a process of its own.

That site imports nothing from reef_site and mounts the app under ``billing/api/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import django
django.setup()
from django.core.management import call_command
call_command("check", fail_level="WARNING")
call_command("migrate", verbosity=0)
from django.core.management import get_commands
assert get_commands()["sandbox_landing"] == "credits.testing"  # the host added credits.testing
import sys
from django.contrib.auth import get_user_model
from django.test import Client
assert not any(name.startswith("reef_site") for name in sys.modules), "reef_site was imported"
client = Client()
assert client.get("/").status_code == 302  # log-in required by the host's own view
client.force_login(get_user_model().objects.create_user("host", password="pw"))
html = client.get("/").content.decode()
assert html.count('data-credits="inline"') == 2, html
assert html.count("Credits exhausted") == 2
assert 'data-topup-url="/billing/api/topup-credits"' in html
assert "/ui/api/" not in html
answer = client.get("/billing/api/recent-topups")
assert answer.status_code == 200 and answer.json() == {"topups": []}, answer.content
print("hostsite ok")
"""


def test_the_app_works_in_a_second_host_site_under_another_prefix():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.hostsite.settings", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("hostsite ok")
