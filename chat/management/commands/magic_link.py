from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...conf import get_settings
from ...magic import create_link, refusal


class Command(BaseCommand):
    help = (
        "Print a single-use log-in link for a user (valid for 10 minutes). "
        "Not for staff or superusers unless CHAT['MAGIC_LINKS_FOR_STAFF'] is on."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the site's address")

    def handle(self, *args: Any, **options: Any) -> None:
        model = get_user_model()
        user = model._default_manager.filter(**{model.USERNAME_FIELD: options["username"]}).first()
        if user is None or not user.is_active:
            raise CommandError(f"There is no active user named {options['username']!r}.")
        reason = refusal(user)
        if reason is not None:
            raise CommandError(f"No log-in link for {options['username']!r}: {reason}.")
        self.stdout.write(link_for(user, options["url"]))


def link_for(user: Any, site_url: str) -> str:
    path, _ = create_link(user)
    return f"{site_url.rstrip('/')}{path}"


def validity() -> str:
    minutes = get_settings().MAGIC_LINK_SECONDS // 60
    return f"single use, valid for {minutes} minutes"
