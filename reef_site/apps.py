from django.apps import AppConfig


class ReefSiteConfig(AppConfig):
    """The host site as an app: its log-in by link (model, admin, views under /auth/) and the
    management commands ``magic_link`` and ``demo_user``."""

    name = "reef_site"
    verbose_name = "reef site"
    default_auto_field = "django.db.models.BigAutoField"
