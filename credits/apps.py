from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CreditsConfig(AppConfig):
    name = "credits"
    verbose_name = _("Credits")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import autotopup, checks  # noqa: F401  (registers the system checks and the auto top-up's receivers)
