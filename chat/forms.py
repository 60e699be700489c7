from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

MAX_MESSAGE_LENGTH = 8000


class MessageForm(forms.Form):
    text = forms.CharField(
        label=_("Message"),
        max_length=MAX_MESSAGE_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("Ask the agent something…"), "autocomplete": "off"}),
        error_messages={"required": _("Write a message first.")},
    )
