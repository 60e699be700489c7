"""The audit of every top-up attempt, which is also the idempotency record."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .codes import UNSETTLED, Delivery, NoticeKind, SettledBy, Source, Status
from .words import format_dollars

__all__ = [
    "UNSETTLED",
    "AlertState",
    "AutoTopup",
    "BalanceSample",
    "Delivery",
    "Notice",
    "NoticeKind",
    "Schedule",
    "SettledBy",
    "Source",
    "Status",
    "TopupAttempt",
    "format_dollars",
    "unsettled_at",
]


def unsettled_at(now: datetime) -> models.Q:
    """Attempts whose outcome is not known: unknown, or pending past the time their landing
    call could still be running. No new charge goes out for their user."""
    return models.Q(status=Status.UNKNOWN) | models.Q(status=Status.PENDING, settle_at__lte=now)


class TopupAttemptQuerySet(models.QuerySet["TopupAttempt"]):
    def due(self, now: datetime) -> TopupAttemptQuerySet:
        """Unsettled attempts whose next settlement try is due."""
        return self.filter(status__in=UNSETTLED, settle_at__lte=now)


class TopupAttempt(models.Model):
    """One request to add credits, written before the landing is called.

    ``key_live`` marks the row that holds its ``(user, idempotency_key)`` claim: a row
    whose outcome is not known yet (pending, unknown), or one whose definite answer
    (succeeded, declined) is replayed. A row whose outcome was an error (nothing was
    charged) or a refusal lets the key go, so a retry with the same key reaches the landing
    again. Every row of one ``(user, idempotency_key)`` carries the same ``upstream_key``,
    so the landing answers every retry of an intended top-up as it did the first time.

    An attempt whose outcome is not known (``unknown``, or ``pending`` once its landing
    call can no longer be running) is settled by re-sending it under its ``upstream_key``:
    ``settle_at`` is when the next try is due, ``first_status`` keeps what was recorded
    first, ``settled_by``/``settled_at``/``settle_tries`` say how the answer was found.
    """

    # The help texts are for a support person reading an attempt in the admin: plain sentences.
    id = models.UUIDField(
        _("audit id"),
        primary_key=True,
        default=uuid.uuid4,
        editable=False,
        help_text=_(
            "This attempt's reference. The site's answer to the request carries it, and the site's log names it."
        ),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="topup_attempts",
        help_text=_("The person who asked for the credits. For an automatic top-up, the person who turned it on."),
    )
    amount_cents = models.PositiveIntegerField(_("amount (cents)"))
    source = models.CharField(
        max_length=16,
        choices=Source.choices,
        default=Source.API,
        help_text=_(
            "Where the request came from: the menu in the site's header, the widget in a chat message, the "
            "low-credits warning, the page without JavaScript, an automatic top-up, or a program using the API."
        ),
    )
    idempotency_key = models.CharField(
        _("request key"),
        max_length=255,
        help_text=_(
            "A key the person's page sent with the request. A double click, a reload or a retry sends the same "
            "key, so it counts as the same top-up and is never charged twice."
        ),
    )
    key_live = models.BooleanField(
        _("request key in use"),
        default=True,
        help_text=_(
            "Yes while a repeat of this request (with the same request key) gets this attempt's answer instead "
            "of a new charge. No once nothing was charged (an error or a refusal), or a day later: a repeat is "
            "then sent to the billing service again, with the same key as before."
        ),
    )
    upstream_key = models.CharField(
        _("key sent to the billing service"),
        max_length=64,
        default="",
        help_text=_(
            "The key this site sent to the billing service with the charge. Every repeat of the same top-up is "
            "sent with it, so the billing service charges it at most once. Quote it when you ask the billing "
            "service about this charge."
        ),
    )
    status = models.CharField(
        max_length=16,
        choices=Status.choices,
        default=Status.PENDING,
        db_index=True,
        help_text=_(
            'What became of the top-up. Only "Succeeded" added credits. "Pending" and "Unknown" mean that a '
            "charge may have happened and the site is still finding out."
        ),
    )
    landing_status = models.PositiveSmallIntegerField(
        _("billing service's HTTP status"),
        null=True,
        blank=True,
        help_text=_(
            "The HTTP status the billing service answered with, such as 200 (charged) or 402 (declined). "
            "Empty when it did not answer."
        ),
    )
    error_code = models.CharField(
        _("error code"),
        max_length=64,
        blank=True,
        help_text=_(
            "Why the top-up did not succeed, as a fixed word, such as card_declined, upstream_timeout (the "
            "billing service did not answer in time) or rate_limited (too many top-ups). The error message "
            "says it in words."
        ),
    )
    error_message = models.CharField(
        _("error message"),
        max_length=500,
        blank=True,
        help_text=_("The sentence the person was shown when the top-up did not succeed."),
    )
    response_status = models.PositiveSmallIntegerField(
        _("HTTP status of the answer"),
        null=True,
        blank=True,
        help_text=_("The HTTP status this site answered the request with (200 when the credits were added)."),
    )
    response_body = models.JSONField(
        _("answer"),
        null=True,
        blank=True,
        help_text=_("What this site answered the request with. A repeat of the request within a day gets it again."),
    )
    duration_ms = models.PositiveIntegerField(
        _("billing call (ms)"),
        null=True,
        blank=True,
        help_text=_("How long the call to the billing service took, in milliseconds."),
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
        db_index=True,
        help_text=_("When the request arrived. The attempt is written down before the billing service is called."),
    )
    finished_at = models.DateTimeField(
        _("answered at"),
        null=True,
        blank=True,
        help_text=_("When the first outcome was written down. Empty while there is none."),
    )
    settle_at = models.DateTimeField(
        _("next check"),
        null=True,
        blank=True,
        help_text=_(
            "While the outcome is not known, the site asks the billing service again by sending the same "
            "charge with the same key, which can never charge twice. This is when it next asks."
        ),
    )
    first_status = models.CharField(
        _("first recorded status"),
        max_length=16,
        choices=Status.choices,
        blank=True,
        help_text=_(
            "The status written down first. When it differs from the status above, the outcome was found "
            "later: for example, unknown after the billing service did not answer in time, then succeeded."
        ),
    )
    settled_by = models.CharField(
        max_length=16,
        choices=SettledBy.choices,
        blank=True,
        help_text=_(
            "Who found the outcome after it was not known at first: a repeat of the request, the person's next "
            'top-up, the background worker, the settle_topups command, or "Settle now" in this admin.'
        ),
    )
    settled_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the outcome that was not known at first was found.")
    )
    settle_tries = models.PositiveIntegerField(
        _("settlement tries"),
        default=0,
        help_text=_("How many times the site asked the billing service again for the outcome."),
    )
    needs_operator = models.BooleanField(
        _("needs an operator"),
        default=False,
        db_index=True,
        help_text=_(
            "Yes when the billing service gave no definite answer after a day of tries. Ask the billing service "
            "whether this charge went through (quote the key sent to the billing service), then tell the person."
        ),
    )
    outcome_shown = models.BooleanField(
        _("outcome shown to the user"),
        default=True,
        help_text=_(
            "No while the person has not been told the outcome yet, because it was found after their page "
            "stopped waiting. The site tells them when they next come back."
        ),
    )

    objects = TopupAttemptQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("top-up attempt")
        # Team rules (docs/contract.md section 7): who may add credits when the site requires a
        # permission (CREDITS["TOPUP_PERMISSION"]), and who may manage the auto top-up.
        permissions = [
            ("top_up", _("Can add credits to the team")),
            ("manage_auto_topup", _("Can manage the team's auto top-up")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=models.Q(key_live=True),
                name="credits_one_live_claim_per_user_key",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "created_at"], name="credits_user_created"),
            # Every row of one (user, key), live or not: the claim reads them, whatever the history.
            models.Index(fields=["user", "idempotency_key"], name="credits_user_key"),
            models.Index(fields=["settle_at"], name="credits_unsettled_due", condition=models.Q(status__in=UNSETTLED)),
        ]

    def __str__(self) -> str:
        return f"{self.amount_display} by {self.user} ({self.status})"

    @property
    def amount_display(self) -> str:
        return format_dollars(self.amount_cents)

    @property
    def is_settled(self) -> bool:
        return self.status not in UNSETTLED

    def is_unsettled_at(self, now: datetime) -> bool:
        """The rule of :func:`unsettled_at`, for a row in hand."""
        return self.status == Status.UNKNOWN or (
            self.status == Status.PENDING and self.settle_at is not None and self.settle_at <= now
        )


class AutoTopup(models.Model):
    """The site's one auto top-up setting (``pk=1``), and its durable claim.

    ``armed``: a drop below the threshold fires once; a balance reading at or above the
    threshold arms it again (as does a failed charge, so the next low reading tries again).
    ``in_flight_key``: the idempotency key of the charge under way (``auto-<uuid>``, made when
    the drop was claimed), empty when none; at most one at a time. The claim is one
    conditional UPDATE, so many processes reading the balance at once charge once.
    """

    SINGLETON_PK = 1

    enabled = models.BooleanField(_("enabled"), default=False)
    threshold_cents = models.PositiveIntegerField(
        _("threshold (cents)"), default=500, help_text=_("A top-up is charged when the balance falls below this.")
    )
    amount_cents = models.PositiveIntegerField(
        _("amount (cents)"), default=2500, help_text=_("How much each automatic top-up adds.")
    )
    monthly_cap_cents = models.PositiveIntegerField(
        _("monthly cap (cents)"),
        default=10000,
        help_text=_("Automatic top-ups never pass this sum in a calendar month."),
    )
    enabled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("enabled by"),
        help_text=_("The user who last turned it on; automatic top-ups are charged in their name."),
    )
    failures_in_a_row = models.PositiveSmallIntegerField(_("failures in a row"), default=0)
    disabled_reason = models.CharField(_("why it was turned off"), max_length=500, blank=True)
    disabled_at = models.DateTimeField(_("turned off at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    armed = models.BooleanField(
        _("armed"),
        default=True,
        help_text=_(
            "No after a top-up was charged for a drop below the threshold, until the balance is above it again, "
            "so one drop is charged once."
        ),
    )
    in_flight_key = models.CharField(_("charge under way (key)"), max_length=64, blank=True)
    in_flight_cents = models.PositiveIntegerField(_("charge under way (cents)"), null=True, blank=True)
    in_flight_since = models.DateTimeField(_("charge under way since"), null=True, blank=True)
    released_at = models.DateTimeField(
        _("last charge ended at"),
        null=True,
        blank=True,
        help_text=_("Balance readings begun before this are stale: they neither fire nor re-arm."),
    )

    class Meta:
        verbose_name = _("auto top-up")
        verbose_name_plural = _("auto top-up")

    def __str__(self) -> str:
        return str(_("Auto top-up"))


class Schedule(models.Model):
    """When the next run of a chain of background tasks is due (``name``: the chain's). A run
    goes ahead only if it moves ``due_at`` from its own time to the next (one conditional
    UPDATE), so however many copies of a chain start, only one lives."""

    name = models.CharField(max_length=64, primary_key=True)
    due_at = models.DateTimeField()

    class Meta:
        verbose_name = _("background schedule")

    def __str__(self) -> str:
        return self.name


class BalanceSample(models.Model):
    """One balance the site read from the landing (:mod:`credits.samples` keeps them): when,
    and the landing's three figures in dollars, as the floats it sent.

    ``hourly`` marks the first sample of its hour (UTC), set when it is written: the history is
    read from those and the newest, at most one row an hour however many readings the hour
    holds. Every sample is kept for 14 days, then only the hourly ones, none past 400 days.
    """

    at = models.DateTimeField(_("read at"), db_index=True)
    credits = models.FloatField(_("credits (dollars)"))
    spend = models.FloatField(_("spend (dollars)"))
    remaining = models.FloatField(_("remaining (dollars)"))
    hourly = models.BooleanField(
        _("first of its hour"), default=False, help_text=_("Kept past 14 days, and read for the history.")
    )

    class Meta:
        verbose_name = _("balance sample")
        get_latest_by = "at"
        indexes = [
            # The samples not kept for their hour: the pruning reads only these.
            models.Index(fields=["at"], name="credits_sample_unthinned", condition=models.Q(hourly=False)),
            # The first of each hour: the history reads only these (and the newest).
            models.Index(fields=["at"], name="credits_sample_hourly", condition=models.Q(hourly=True)),
        ]

    def __str__(self) -> str:
        return f"${self.remaining:,.2f} remaining at {self.at:%Y-%m-%d %H:%M}"


class AlertState(models.Model):
    """Whether the site is "running low" now (:mod:`credits.alerts`): the site's one row
    (``pk=1``), and the claim of a crossing. Going low is one conditional UPDATE from
    ``low=False``, so however many processes see the same drop, one sends the notice; only a
    reading clearly above the line again sets it back. ``changed_at`` is the time of the reading
    that changed it: a reading asked for before that is stale and changes nothing."""

    SINGLETON_PK = 1

    low = models.BooleanField(_("running low"), default=False)
    text = models.CharField(_("warning"), max_length=300, blank=True)
    changed_at = models.DateTimeField(_("changed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("low-credits state")

    def __str__(self) -> str:
        return self.text or str(_("Not running low"))


class Notice(models.Model):
    """One notice to the team (running low, auto top-up turned off, a top-up for an operator)
    and what became of it on each channel. The background worker delivers it (never a request):
    ``due_at`` is when its next delivery try is due, None once every channel is done."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("kind"), max_length=32, choices=NoticeKind.choices)
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    text = models.CharField(_("notice"), max_length=500)
    remaining = models.FloatField(_("remaining (dollars)"), null=True, blank=True)
    hours_left = models.FloatField(_("forecast (hours left)"), null=True, blank=True)
    email = models.CharField(_("email"), max_length=16, choices=Delivery.choices, default=Delivery.PENDING)
    email_detail = models.CharField(_("email: detail"), max_length=500, blank=True)
    webhook = models.CharField(_("webhook"), max_length=16, choices=Delivery.choices, default=Delivery.PENDING)
    webhook_detail = models.CharField(_("webhook: detail"), max_length=500, blank=True)
    tries = models.PositiveSmallIntegerField(_("delivery tries"), default=0)
    due_at = models.DateTimeField(_("next delivery try"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("notice")
        indexes = [
            models.Index(fields=["due_at"], name="credits_notice_due", condition=models.Q(due_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.text
