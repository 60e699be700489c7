from typing import Any

from django.apps import AppConfig
from django.db import DatabaseError
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CreditsConfig(AppConfig):
    name = "credits"
    verbose_name = _("Credits")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import alerts, autotopup, checks, samples  # noqa: F401  (the system checks; the receivers)

        post_migrate.connect(_start_sweeping, sender=self, dispatch_uid="credits.start_sweeping")
        post_migrate.connect(_start_sampling, sender=self, dispatch_uid="credits.start_sampling")


def _start_sweeping(using: str = "default", **kwargs: Any) -> None:
    """After ``migrate`` (and a test database's flush): the settlement sweep's chain, unless one lives."""
    import logging

    from .settlement import start_sweeping

    try:
        start_sweeping(using)
    except DatabaseError:  # migrated only part of the way: the next migrate starts it
        logging.getLogger("credits").warning("the settlement sweep could not be started", exc_info=True)


def _start_sampling(using: str = "default", **kwargs: Any) -> None:
    """After ``migrate`` (and a test database's flush): the balance sampling's chain, unless one lives."""
    import logging

    from .samples import start_sampling

    try:
        start_sampling(using)
    except DatabaseError:  # migrated only part of the way: the next migrate starts it
        logging.getLogger("credits").warning("the balance sampling could not be started", exc_info=True)
