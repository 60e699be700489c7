"""Conversations and their messages. (The log-in links are reef_site's: reef_site.models.)"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

TITLE_LENGTH = 80


class Conversation(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(_("title"), max_length=TITLE_LENGTH, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_index=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")

    def __str__(self) -> str:
        return self.title or str(_("New conversation"))

    def get_absolute_url(self) -> str:
        return reverse("chat:conversation", args=[self.pk])


class Role(models.TextChoices):
    USER = "user", _("You")
    ASSISTANT = "assistant", _("Agent")


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(_("who said it"), max_length=16, choices=Role.choices)
    text = models.TextField(_("text"))
    created_at = models.DateTimeField(_("time"), auto_now_add=True)
    # The user's message an assistant message answers: what "Continue" runs again.
    prompt = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies", verbose_name=_("answers")
    )
    out_of_credits = models.BooleanField(_("ran out of credits"), default=False)
    failed = models.BooleanField(_("the agent failed"), default=False)
    # Set once when the stopped task is run again, so it runs again only once.
    continued_at = models.DateTimeField(_("continued"), null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.text[:60]}"

    @property
    def is_stopped(self) -> bool:
        """An assistant message whose task stopped (no credits, or a failure) and was not run again."""
        return (
            self.role == Role.ASSISTANT
            and (self.out_of_credits or self.failed)
            and self.prompt_id is not None
            and self.continued_at is None
        )

    @property
    def dom_id(self) -> str:
        return f"m-{self.pk}"
