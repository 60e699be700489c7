from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import MagicLink


@admin.register(MagicLink)
class MagicLinkAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "created_at", "expires_at", "used_at")
    list_select_related = ("user",)
    readonly_fields = ("user", "created_at", "expires_at", "used_at")
    exclude = ("secret_hash",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
