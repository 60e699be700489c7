from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandParser

from .magic_link import link_for, validity


class Command(BaseCommand):
    help = (
        "Create the demo user (no usable password, allowed to manage the auto top-up) and print a "
        "single-use link that logs it in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the site's address, for the link")
        parser.add_argument(
            "--another",
            default="",
            help="the command to print for another link (`make run` passes `make link`); "
            "by default `python manage.py magic_link USERNAME --url URL`",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user, _ = get_user_model().objects.get_or_create(username=options["username"])
        user.set_unusable_password()  # nobody logs in with a default password: only by link
        user.is_active = True
        # A plain user: log-in links are not for staff or superusers (an older demo user that
        # was one is made plain again). The admin is for a superuser with a password.
        user.is_staff = user.is_superuser = False
        user.save()
        # The demo team's manager: the header menu lets it set up the auto top-up.
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="credits", codename="manage_auto_topup")
        )
        username = user.get_username()
        self.stdout.write(f"Log in as {username} at {link_for(user, options['url'])} ({validity()}).")
        another = options["another"] or f"python manage.py magic_link {username} --url {options['url'].rstrip('/')}"
        self.stdout.write(f"Another link, once this one is used or expired: {another}")
        self.stdout.write(f"{username} may add credits and manage the auto top-up (the + credits menu).")
