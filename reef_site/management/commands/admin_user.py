from __future__ import annotations

import secrets
from typing import Any

from axes.utils import reset as reset_failed_logins
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

# make run's demo user logs in by link, which is never for staff (MAGIC_LINKS["FOR_STAFF"]):
# making it a superuser would shut it out of the demo, and make run would undo it anyway.
DEMO_USER = "demo"


class Command(BaseCommand):
    help = (
        "Create a staff superuser for the Django admin, or make an existing user one, with a new random "
        "password, and print the password and the admin's address. The user's earlier password stops "
        "working, and its failed log-ins are forgotten (a lockout ends). "
        "`make admin USER=ada` runs this on the demo's database, with the demo's settings."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the site's address, for the admin's")
        parser.add_argument(
            "--again",
            default="",
            help="the command to print for a new password (`make admin` passes its own); "
            "by default `python manage.py admin_user USERNAME`",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"].strip()
        if not username:
            raise CommandError("Give a user name, for example: make admin USER=ada")
        if username == DEMO_USER:
            raise CommandError(
                f"{DEMO_USER!r} is make run's demo user, who logs in by link, never as staff. "
                "Pick another name, for example: make admin USER=ada"
            )
        password = secrets.token_urlsafe(12)
        try:
            created = self._superuser(username, password)
            reset_failed_logins(username=username)
        except DatabaseError as exc:  # no tables yet (never migrated), or no database at all
            raise CommandError(
                f"The database cannot be read ({exc}). Run `python manage.py migrate` first (make admin does)."
            ) from exc
        self.stdout.write(f"{'Created' if created else 'Updated'} the superuser {username}, with a new password.")
        self.stdout.write(f"Log in at {options['url'].rstrip('/')}/admin/")
        self.stdout.write(f"  username: {username}")
        self.stdout.write(f"  password: {password}")
        again = options["again"] or f"python manage.py admin_user {username}"
        self.stdout.write(f"The password is shown only here. A new one (the old one then stops working): {again}")

    def _superuser(self, username: str, password: str) -> bool:
        """Create the user or update it: active, staff, superuser, with ``password``. Whether it was created."""
        model = get_user_model()
        user = model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()
        created = user is None
        if user is None:
            user = model(**{model.USERNAME_FIELD: username})
        user.is_active = user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        return created
