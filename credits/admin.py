"""The audit, read-only: nobody adds, changes or deletes a record of money."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import TopupAttempt

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[TopupAttempt]
else:
    _ModelAdmin = admin.ModelAdmin


@admin.register(TopupAttempt)
class TopupAttemptAdmin(_ModelAdmin):
    list_display = ("created_at", "user", "amount", "source", "status", "landing_status", "error_code", "duration_ms")
    list_filter = ("status", "source", "created_at")
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
    )
    readonly_fields = fields

    @admin.display(description=_("amount"), ordering="amount_cents")
    def amount(self, obj: TopupAttempt) -> str:
        return obj.amount_display

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
