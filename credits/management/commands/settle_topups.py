"""``python manage.py settle_topups``: settle every top-up whose outcome is due to be checked (for cron)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from credits.models import SettledBy
from credits.settlement import settle_due


class Command(BaseCommand):
    help = (
        "Re-send every top-up attempt whose outcome is not known and whose next try is due, under its own "
        "upstream key (this never charges twice), and record the answers. Run it from cron every minute."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="settle at most this many attempts")

    def handle(self, *args: Any, **options: Any) -> None:
        counts = settle_due(SettledBy.SWEEP, options["limit"])
        total = sum(counts.values())
        summary = ", ".join(f"{status} {count}" for status, count in sorted(counts.items())) or "nothing was due"
        self.stdout.write(f"Settled {total} top-up attempt(s): {summary}.")
