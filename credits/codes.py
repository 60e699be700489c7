"""The app's words for states and refusals, in one place: an attempt's status, who settled
it, where a top-up came from, and the stable ``code`` of every error answer (docs/contract.md).

Layer 1: no database, nothing of the app but its own kind.
"""

from __future__ import annotations

from enum import StrEnum

from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    PENDING = "pending", _("Pending: sent, or about to be; a charge may have happened")
    SUCCEEDED = "succeeded", _("Succeeded")
    DECLINED = "declined", _("Declined by the billing service")
    ERROR = "error", _("Error: nothing was charged")
    UNKNOWN = "unknown", _("Unknown: check the balance before trying again")
    REFUSED = "refused", _("Refused here (limit reached): never sent")


UNSETTLED = (Status.PENDING, Status.UNKNOWN)


class SettledBy(models.TextChoices):
    RETRY = "retry", _("A retry with the same key")
    NEXT_TOPUP = "next_topup", _("The user's next top-up")
    BACKGROUND = "background", _("The background worker")
    SWEEP = "sweep", _("The settle_topups command")
    ADMIN = "admin", _("Settle now, in the admin")


class Source(models.TextChoices):
    HEADER = "header", _("Header menu")
    INLINE = "inline", _("Inline widget")
    FORM = "form", _("Form without JavaScript")
    API = "api", _("API")
    AUTO = "auto", _("Automatic top-up")
    WARNING = "warning", _("Low-credits warning")


class NoticeKind(models.TextChoices):
    """What a notice (:mod:`credits.alerts`) tells the team."""

    RUNNING_LOW = "running_low", _("Credits running low")
    AUTO_TOPUP_OFF = "auto_topup_off", _("Auto top-up turned off")
    NEEDS_OPERATOR = "needs_operator", _("Top-up needs an operator")


class Delivery(models.TextChoices):
    """What became of a notice on one channel (email, webhook)."""

    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


class Result(StrEnum):
    """What became of a top-up request, said in every answer of ``topup-credits`` as ``outcome``
    so the page reads it instead of guessing from the status code."""

    SUCCEEDED = "succeeded"  # the credits were added
    DECLINED = "declined"  # the billing service said no: nothing was charged
    ERROR = "error"  # it failed, and nothing was charged
    UNKNOWN = "unknown"  # money may have moved: keep the key, the outcome is being found
    PENDING = "pending"  # still being processed (this key, or another top-up of the user's)
    REFUSED = "refused"  # not sent, nothing charged (a limit, a key reused, an earlier success)


class Code(StrEnum):
    """The ``code`` of an error answer: a stable machine word (docs/contract.md, section 2)."""

    # The request itself
    NOT_AUTHENTICATED = "not_authenticated"
    CSRF_FAILED = "csrf_failed"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    INVALID_JSON = "invalid_json"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_SOURCE = "invalid_source"
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    INVALID_ATTEMPT = "invalid_attempt"
    INVALID_AUTO_TOPUP = "invalid_auto_topup"
    INVALID_DAYS = "invalid_days"
    # The claim: refused before anything is sent
    RATE_LIMITED = "rate_limited"
    IN_PROGRESS = "in_progress"
    EARLIER_IN_PROGRESS = "earlier_in_progress"
    EARLIER_TOPUP_SUCCEEDED = "earlier_topup_succeeded"
    UNSETTLED = "unsettled"
    IDEMPOTENCY_MISMATCH = "idempotency_mismatch"
    # The landing's answer, or no answer
    UPSTREAM_REJECTED = "upstream_rejected"
    UPSTREAM_AUTH = "upstream_auth"
    UPSTREAM_ERROR = "upstream_error"
    UPSTREAM_UNREACHABLE = "upstream_unreachable"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    NOT_CONFIGURED = "not_configured"
    BUSY = "busy"
    # The site's own failure
    UNAVAILABLE = "unavailable"
    NOT_RECORDED = "not_recorded"
