"""The audit, read-only: nobody adds, changes or deletes a record of money.

The one thing an operator can do is "Settle now": re-send the selected attempts whose
outcome is not known under their own upstream keys (which can never charge twice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy

from . import settlement
from .forms import AutoTopupForm
from .models import UNSETTLED, AutoTopup, Delivery, Notice, SettledBy, Source, Status, TopupAttempt, format_dollars

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[TopupAttempt]
    _AutoAdmin = admin.ModelAdmin[AutoTopup]
    _NoticeAdmin = admin.ModelAdmin[Notice]
else:
    _ModelAdmin = admin.ModelAdmin
    _AutoAdmin = admin.ModelAdmin
    _NoticeAdmin = admin.ModelAdmin


class ReadOnly:
    """A record nobody adds, changes or deletes in the admin (a view permission shows it)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# One word per status, source and settler for the list's cells; the full label is their tooltip.
SHORT_STATUS: dict[str, Promise] = {
    Status.PENDING: _("pending"),
    Status.SUCCEEDED: _("succeeded"),
    Status.DECLINED: _("declined"),
    Status.ERROR: _("error"),
    Status.UNKNOWN: _("unknown"),
    Status.REFUSED: _("refused"),
}
SHORT_SOURCE: dict[str, Promise] = {
    Source.HEADER: pgettext_lazy("source", "header"),
    Source.INLINE: pgettext_lazy("source", "inline"),
    Source.WARNING: pgettext_lazy("source", "warning"),
    Source.FORM: pgettext_lazy("source", "form"),
    Source.AUTO: pgettext_lazy("source", "auto"),
    Source.API: pgettext_lazy("source", "API"),
}
SHORT_SETTLED_BY: dict[str, Promise] = {
    SettledBy.RETRY: _("retry"),
    SettledBy.NEXT_TOPUP: _("next top-up"),
    SettledBy.BACKGROUND: _("worker"),
    SettledBy.SWEEP: _("command"),
    SettledBy.ADMIN: _("admin"),
}


@admin.register(TopupAttempt)
class TopupAttemptAdmin(ReadOnly, _ModelAdmin):
    # Short cells that never break inside a word, so the list fits a laptop (1280 px) beside the
    # filters (its template leaves out the navigation sidebar); the rest is on each attempt's page.
    list_display = ("when", "who", "amount", "source_label", "status_label", "code", "settled", "took")
    list_filter = ("status", "needs_operator", "settled_by", "source", "created_at")
    actions = ("settle_now",)
    search_fields = ("user__username", "user__email", "idempotency_key", "upstream_key")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    ordering = ("-created_at",)
    fields = (
        "id",
        "user",
        "amount",
        "source",
        "status",
        "idempotency_key",
        "key_live",
        "upstream_key",
        "landing_status",
        "error_code",
        "error_message",
        "response_status",
        "response_body",
        "duration_ms",
        "created_at",
        "finished_at",
        "first_status",
        "settle_at",
        "settled_by",
        "settled_at",
        "settle_tries",
        "needs_operator",
        "outcome_shown",
    )
    readonly_fields = fields

    class Media:
        css = {"all": ("credits/admin.css",)}

    @admin.action(description=_("Settle now: re-send under its own key (never charges twice)"), permissions=["view"])
    def settle_now(self, request: HttpRequest, queryset: QuerySet[TopupAttempt]) -> None:
        unsettled = list(queryset.filter(status__in=UNSETTLED))
        results = [settlement.settle(attempt, SettledBy.ADMIN) for attempt in unsettled]
        settled = sum(1 for attempt in results if attempt.is_settled)
        waiting = sum(1 for attempt in results if attempt.status == Status.PENDING)
        self.message_user(
            request,
            ngettext("%(count)d attempt settled.", "%(count)d attempts settled.", settled) % {"count": settled},
            messages.SUCCESS if settled else messages.INFO,
        )
        if len(results) - settled - waiting:
            self.message_user(
                request,
                _("%(count)d still without a definite answer; they are tried again with backoff.")
                % {"count": len(results) - settled - waiting},
                messages.WARNING,
            )
        if waiting:
            self.message_user(
                request,
                _("%(count)d still within their landing call's time; settle them in a minute.") % {"count": waiting},
                messages.WARNING,
            )
        if len(unsettled) < queryset.count():
            self.message_user(request, _("Attempts already settled were left as they are."), messages.INFO)

    @admin.display(description=_("when"), ordering="created_at")
    def when(self, obj: TopupAttempt) -> str:
        moment = timezone.localtime(obj.created_at)
        return format_html(
            '<time datetime="{}" title="{}">{}<br>{}</time>',
            moment.isoformat(),
            date_format(moment, "DATETIME_FORMAT"),
            moment.strftime("%Y-%m-%d"),
            moment.strftime("%H:%M:%S"),
        )

    @admin.display(description=_("user"), ordering="user__username")
    def who(self, obj: TopupAttempt) -> str:
        """The user's name on one line (a name is one word); a very long one is cut short, whole on hover."""
        name = obj.user.get_username()
        return format_html('<span class="credits-name" title="{}">{}</span>', name, name)

    @admin.display(description=_("amount"), ordering="amount_cents")
    def amount(self, obj: TopupAttempt) -> str:
        return obj.amount_display

    @admin.display(description=_("source"), ordering="source")
    def source_label(self, obj: TopupAttempt) -> str:
        """Where the top-up was asked for, in one word; the full label on hover."""
        return format_html(
            '<span title="{}">{}</span>', obj.get_source_display(), SHORT_SOURCE.get(obj.source, obj.source)
        )

    @admin.display(description=_("status"), ordering="status")
    def status_label(self, obj: TopupAttempt) -> str:
        return format_html('<span title="{}">{}</span>', obj.get_status_display(), SHORT_STATUS[obj.status])

    @admin.display(description=_("settled"), ordering="settled_at")
    def settled(self, obj: TopupAttempt) -> str | None:
        """Who found the outcome and what was recorded first, or that an operator must."""
        if obj.settled_by:
            first = SHORT_STATUS.get(obj.first_status, obj.first_status)
            return format_html(
                '<span title="{}">{}</span> <small>{}</small>',
                obj.get_settled_by_display(),
                _words(SHORT_SETTLED_BY[obj.settled_by]),
                _words(_("was %(status)s") % {"status": first}) if first else "",
            )
        if obj.needs_operator:
            return format_html("<strong>{}</strong>", _words(_("needs an operator")))
        return None

    @admin.display(description=_("code"), ordering="error_code")
    def code(self, obj: TopupAttempt) -> str | None:
        """What was answered: the billing service's HTTP status when it answered, then the error
        code (one under the other if they do not fit side by side); the message on hover."""
        parts = [str(part) for part in (obj.landing_status, obj.error_code) if part]
        if not parts:
            return None
        return format_html('<span title="{}">{}</span>', obj.error_message, _words(" ".join(parts)))

    @admin.display(description=_("took"), ordering="duration_ms")
    def took(self, obj: TopupAttempt) -> str | None:
        """How long the landing call took."""
        if obj.duration_ms is None:
            return None
        return f"{obj.duration_ms} ms" if obj.duration_ms < 1000 else f"{obj.duration_ms / 1000:.1f} s"


def _words(text: object) -> str:
    """``text`` with each word kept whole: a cell wraps between words, never inside one (after
    the hyphen of "top-up" or the underscore of "upstream_timeout"); admin.css keeps them whole."""
    return format_html_join(" ", '<span class="credits-word">{}</span>', ((word,) for word in str(text).split()))


@admin.register(Notice)
class NoticeAdmin(ReadOnly, _NoticeAdmin):
    """The notices sent to the team (credits.alerts), read-only: what, when, and per channel
    delivered, failed (with the reason) or skipped."""

    list_display = ("created_at", "kind", "text", "remaining_display", "forecast", "email_state", "webhook_state")
    list_filter = ("kind", "email", "webhook", "created_at")
    date_hierarchy = "created_at"

    @admin.display(description=_("remaining"), ordering="remaining")
    def remaining_display(self, obj: Notice) -> str:
        return "" if obj.remaining is None else f"${obj.remaining:,.2f}"

    @admin.display(description=_("forecast"), ordering="hours_left")
    def forecast(self, obj: Notice) -> str:
        return "" if obj.hours_left is None else f"{obj.hours_left:.1f} h"

    @admin.display(description=_("email"), ordering="email")
    def email_state(self, obj: Notice) -> str:
        return _channel(obj.email, obj.email_detail)

    @admin.display(description=_("webhook"), ordering="webhook")
    def webhook_state(self, obj: Notice) -> str:
        return _channel(obj.webhook, obj.webhook_detail)


def _channel(status: str, detail: str) -> str:
    """A channel's state, with the reason beside a failure and in the tooltip otherwise."""
    label = Delivery(status).label
    if status == Delivery.FAILED and detail:
        return format_html("<strong>{}</strong>: {}", label, detail)
    return format_html('<span title="{}">{}</span>', detail, label)


# What the rule keeps about itself: shown in the admin, never edited there.
AUTO_TOPUP_STATE = (
    "spent_this_month",
    "enabled_by",
    "failures_in_a_row",
    "disabled_reason",
    "disabled_at",
    "armed",
    "in_flight_key",
    "in_flight_since",
    "updated_at",
)


@admin.register(AutoTopup)
class AutoTopupAdmin(_AutoAdmin):
    """The team's one auto top-up setting. Turning it on here makes you the user the
    automatic top-ups are charged for (as in the header menu); their audit stays read-only."""

    form = AutoTopupForm
    list_display = ("__str__", "enabled", "threshold", "amount", "monthly_cap", "spent_this_month", "disabled_reason")
    fieldsets = (
        (None, {"fields": ("enabled", "threshold_cents", "amount_cents", "monthly_cap_cents")}),
        (
            _("State"),
            {"fields": AUTO_TOPUP_STATE},
        ),
    )
    readonly_fields = AUTO_TOPUP_STATE

    @admin.display(description=_("threshold"))
    def threshold(self, obj: AutoTopup) -> str:
        return format_dollars(obj.threshold_cents)

    @admin.display(description=_("amount"))
    def amount(self, obj: AutoTopup) -> str:
        return format_dollars(obj.amount_cents)

    @admin.display(description=_("monthly cap"))
    def monthly_cap(self, obj: AutoTopup) -> str:
        return format_dollars(obj.monthly_cap_cents)

    @admin.display(description=_("spent this month"))
    def spent_this_month(self, obj: AutoTopup) -> str:
        from .autotopup import spent_this_month

        return format_dollars(spent_this_month())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not AutoTopup.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: AutoTopup, form: Any, change: bool) -> None:
        from . import autotopup

        autotopup.update(
            request.user,  # type: ignore[arg-type]
            enabled=obj.enabled,
            threshold_cents=obj.threshold_cents,
            amount_cents=obj.amount_cents,
            monthly_cap_cents=obj.monthly_cap_cents,
        )
        obj.pk = AutoTopup.SINGLETON_PK  # also when added here: it is the one setting
        obj.refresh_from_db()
