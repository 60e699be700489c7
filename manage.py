#!/usr/bin/env python
"""Django's command-line utility for the reef site."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reef_site.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018 (load the settings now, from the environment and .env)
    except ImproperlyConfigured as exc:  # such as SECRET_KEY missing with DEBUG off: one line, no traceback
        sys.exit(f"manage.py: {exc}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
