"""The audit, read-only: nobody adds, changes or deletes a record of money.

The one thing an operator can do is "Settle now": re-send the selected attempts whose
outcome is not known under their own upstream keys (which can never charge twice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import settlement
from .models import UNSETTLED, SettledBy, Status, TopupAttempt

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[TopupAttempt]
else:
    _ModelAdmin = admin.ModelAdmin


@admin.register(TopupAttempt)
class TopupAttemptAdmin(_ModelAdmin):
    list_display = (
        "created_at",
        "user",
        "amount",
        "source",
        "status",
        "first_status",
        "settled_by",
        "needs_operator",
        "landing_status",
        "error_code",
        "duration_ms",
    )
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

    @admin.display(description=_("amount"), ordering="amount_cents")
    def amount(self, obj: TopupAttempt) -> str:
        return obj.amount_display

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
