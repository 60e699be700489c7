"""``python manage.py sandbox_landing``: serve the sandbox landing (``credits.testing``) over HTTP."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from credits.conf import get_settings
from credits.testing import MODES, FaultConfig, SandboxLanding, is_loopback


def _json_object(raw: str) -> dict[str, Any]:
    """An argparse type: a JSON object given on the command line."""
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


class Command(BaseCommand):
    help = (
        "Run the sandbox landing (a stand-in billing service) over HTTP, with the site's token. While it runs, "
        "POST /sandbox/configure (loopback only, a JSON body with Content-Type: application/json) sets how it "
        'answers: {"next": "decline"} for the next top-up, {"mode": "decline"} for all, {"remaining": 0} to run the '
        'credits out, {"reset": true} to start over (README, "Try the failure modes").'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="a loopback address unless --allow-remote is given")
        parser.add_argument(
            "--allow-remote",
            action="store_true",
            help="serve on a --host that is not loopback (the /sandbox/ control endpoints still answer only on loopback)",
        )
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument(
            "--credits", type=float, default=10.0, help="starting credits in dollars (unless --state-file has some)"
        )
        parser.add_argument("--mode", choices=MODES, default="ok", help="how top-ups are answered")
        parser.add_argument("--delay", type=float, default=0.0, help="seconds to hold each top-up answer")
        parser.add_argument(
            "--state-file", type=Path, default=None, help="keep balance, charges and stored answers in this JSON file"
        )
        parser.add_argument(
            "--faults",
            type=_json_object,
            default=None,
            help='random faults in mode ok, e.g. \'{"late": 0.1, "drop": 0.05, "decline": 0.05, "lateSeconds": 2, "seed": 1}\'',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not is_loopback(options["host"]) and not options["allow_remote"]:
            raise CommandError(
                f"--host {options['host']!r} is not a loopback address (127.0.0.1, ::1, localhost): the sandbox "
                "landing is for one machine. Add --allow-remote to serve it to other machines anyway."
            )
        token = get_settings().AUTH_TOKEN
        if not token:
            raise CommandError(
                "Set VERS_AUTH_TOKEN (CREDITS['AUTH_TOKEN']): the sandbox checks the same token as the site."
            )
        try:
            FaultConfig.parse(options["faults"])
        except ValueError as exc:
            raise CommandError(f"--faults: {exc}") from exc
        landing = SandboxLanding(
            token, options["host"], options["port"], options["credits"], state_file=options["state_file"]
        )
        try:
            landing.state.configure(mode=options["mode"], delay=options["delay"], faults=options["faults"])
        except OSError as exc:  # the state file cannot be written
            raise CommandError(f"--state-file: {exc}") from exc
        remaining = landing.state.balance()["remaining"]
        started = f"Sandbox landing on {landing.url} (mode {options['mode']}, ${remaining:.2f} of credits"
        if options["faults"]:
            started += f", faults {json.dumps(options['faults'])}"
        if options["state_file"]:
            started += f", state in {options['state_file']}"
        self.stdout.write(started + ")")
        self.stdout.write(
            f"Control it from this machine, e.g. the next top-up declines: curl -X POST {landing.url}/sandbox/configure "
            """-H 'Content-Type: application/json' -d '{"next": "decline"}' (README, "Try the failure modes")."""
        )
        try:
            landing.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            landing.stop()
