"""The audit of every top-up attempt, which is also the idempotency record."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    PENDING = "pending", _("Pending: sent, or about to be; a charge may have happened")
    SUCCEEDED = "succeeded", _("Succeeded")
    DECLINED = "declined", _("Declined by the billing service")
    ERROR = "error", _("Error: nothing was charged")
    UNKNOWN = "unknown", _("Unknown: check the balance before trying again")
    REFUSED = "refused", _("Refused here (limit reached): never sent")


class Source(models.TextChoices):
    HEADER = "header", _("Header menu")
    INLINE = "inline", _("Inline widget")
    FORM = "form", _("Form without JavaScript")
    API = "api", _("API")


class TopupAttempt(models.Model):
    """One request to add credits, written before the landing is called.

    ``key_live`` marks the row that holds its ``(user, idempotency_key)`` claim: a
    pending row, or one whose definite answer (succeeded, declined) is replayed. A row
    whose outcome was an error or unknown lets the key go, so a retry with the same key
    reaches the landing again under the same ``upstream_key`` (the landing then answers
    as it did the first time, so the retry cannot charge twice).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="topup_attempts")
    amount_cents = models.PositiveIntegerField(_("amount (cents)"))
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    idempotency_key = models.CharField(max_length=255)
    key_live = models.BooleanField(default=True)
    upstream_key = models.CharField(_("key sent to the landing"), max_length=64, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    landing_status = models.PositiveSmallIntegerField(_("landing HTTP status"), null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("landing call (ms)"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("top-up attempt")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=models.Q(key_live=True),
                name="credits_one_live_claim_per_user_key",
            ),
        ]
        indexes = [models.Index(fields=["user", "created_at"], name="credits_user_created")]

    def __str__(self) -> str:
        return f"{self.amount_display} by {self.user} ({self.status})"

    @property
    def amount_display(self) -> str:
        return format_dollars(self.amount_cents)


def format_dollars(cents: int) -> str:
    """``1000`` → ``"$10"``, ``1050`` → ``"$10.50"``."""
    dollars, rest = divmod(cents, 100)
    return f"${dollars:,}" if rest == 0 else f"${dollars:,}.{rest:02d}"
