from django.apps import AppConfig


class CreditsTestingConfig(AppConfig):
    """Adds the ``sandbox_landing`` management command; no models, no URLs, nothing shown."""

    name = "credits.testing"
    label = "credits_testing"
    verbose_name = "Credits testing"
