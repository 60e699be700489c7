from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connection

from ...conf import get_settings
from ...magic import create_link, refusal

START_FIRST = (
    "Start the site once first (`make run` migrates the database and creates the demo user), "
    "or run `python manage.py migrate`."
)


class Command(BaseCommand):
    help = (
        "Print a single-use log-in link for a user (valid for 10 minutes); the user's older unused links "
        "stop working. "
        "Not for staff or superusers unless MAGIC_LINKS['FOR_STAFF'] is on. "
        "Beside `make run`, `make link` (USER=... for another user) runs this with the demo's settings."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the site's address")

    def handle(self, *args: Any, **options: Any) -> None:
        database = connection.settings_dict
        name = str(database["NAME"])
        sqlite_file = database["ENGINE"] == "django.db.backends.sqlite3" and not name.startswith(("file:", ":memory:"))
        if sqlite_file and not Path(name).exists():  # connecting would leave an empty file behind
            raise CommandError(f"There is no database at {name} yet. {START_FIRST}")
        try:
            self.stdout.write(self._link(options["username"], options["url"]))
        except DatabaseError as exc:  # no tables yet (never migrated), or no database at all
            raise CommandError(f"The database cannot be read ({exc}). {START_FIRST}") from exc

    def _link(self, username: str, url: str) -> str:
        model = get_user_model()
        user = model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()
        if user is None or not user.is_active:
            raise CommandError(f"There is no active user named {username!r}.")
        reason = refusal(user)
        if reason is not None:
            raise CommandError(f"No log-in link for {username!r}: {reason}.")
        return link_for(user, url)


def link_for(user: Any, site_url: str) -> str:
    path, _ = create_link(user)
    return f"{site_url.rstrip('/')}{path}"


def validity() -> str:
    minutes = get_settings().SECONDS // 60
    return f"single use, valid for {minutes} minutes"
