"""``python manage.py sample_balance``: sample the team's balance once (for cron, where no worker runs)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from credits.samples import sample_once


class Command(BaseCommand):
    help = (
        "Read the team's balance from the landing and keep it as a sample (not when a page read it "
        "moments ago, nor when it is the same as the sample of the last minute), and prune the old "
        "samples once an hour: what the background worker's sampling chain does every SAMPLE_MINUTES. "
        "Run it from cron where no worker runs; it fails when the landing cannot give the balance."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        taken, pruned = sample_once()
        if taken.failed:
            raise CommandError(f"The balance was {taken}.")
        self.stdout.write(f"Balance {taken}.")
        if pruned:
            self.stdout.write(f"Samples {pruned}.")
