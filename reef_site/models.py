"""The site's single-use log-in links (reef_site.magic)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class MagicLink(models.Model):
    """A single-use log-in link. Only a hash of its secret is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="magic_links")
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    used_at = models.DateTimeField(_("used"), null=True, blank=True)

    class Meta:
        # The table the chat app made when the log-in lived there: moving the model kept it.
        db_table = "chat_magiclink"
        ordering = ["-created_at"]
        verbose_name = _("magic link")
        verbose_name_plural = _("magic links")

    def __str__(self) -> str:
        return f"{self.user} until {self.expires_at:%Y-%m-%d %H:%M}"
