from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from credits.conf import get_settings
from credits.sandbox import MODES, SandboxLanding


class Command(BaseCommand):
    help = "Run the sandbox landing (a stand-in billing service) over HTTP, with the site's token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--credits", type=float, default=10.0, help="starting credits in dollars")
        parser.add_argument("--mode", choices=MODES, default="ok", help="how top-ups are answered")
        parser.add_argument("--delay", type=float, default=0.0, help="seconds to hold each top-up answer")

    def handle(self, *args: Any, **options: Any) -> None:
        token = get_settings().AUTH_TOKEN
        if not token:
            raise CommandError(
                "Set VERS_AUTH_TOKEN (CREDITS['AUTH_TOKEN']): the sandbox checks the same token as the site."
            )
        landing = SandboxLanding(token, options["host"], options["port"], options["credits"])
        landing.state.configure(mode=options["mode"], delay=options["delay"])
        self.stdout.write(
            f"Sandbox landing on {landing.url} (mode {options['mode']}, ${options['credits']:.2f} of credits)"
        )
        try:
            landing.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            landing.stop()
