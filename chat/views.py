"""The chat page. Sending works as a plain form (post, redirect, get) and, with JavaScript,
as a fetch that answers JSON carrying the same message fragments the page renders.

A message that ran out of credits offers Continue only when continuing can work: a top-up
(by anyone on the team: the credits are shared) went through after it, or the balance read
since then is positive. Otherwise its Continue form is rendered hidden, and the script
reveals it on ``credits:topped-up``; without the script the message says to add credits
first, and the page comes back with Continue after the widget's form has added them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from credits.autotopup import on_its_way
from credits.balance import last_topup_at, peek_balance
from credits.models import format_dollars

from . import services
from .forms import MessageForm
from .models import Conversation, Message, Role

SIDEBAR_LENGTH = 50


def _conversations(request: HttpRequest) -> QuerySet[Conversation]:
    return Conversation.objects.filter(user=request.user)  # type: ignore[misc]


def _send_url(conversation: Conversation | None) -> str:
    if conversation is None:
        return reverse("chat:send-new")
    return reverse("chat:send", args=[conversation.pk])


def continue_ready(messages: Iterable[Message]) -> set[int]:
    """The ids of the messages that ran out of credits and can now be continued: a top-up went
    through after the message, or the cached balance is positive and was read after it (a
    cached balance is at most ``BALANCE_CACHE_SECONDS`` old). One query, and none when no
    message waits; never a landing call."""
    waiting = [m for m in messages if m.out_of_credits and m.is_stopped]
    if not waiting:
        return set()
    last_topup = last_topup_at(min(m.created_at for m in waiting))
    cached = peek_balance()
    # A positive balance in the cache was read after messages made before read_after.
    read_after = cached[1] if cached is not None and cached[0]["remaining"] > 0 else None
    return {
        m.pk
        for m in waiting
        if (last_topup is not None and last_topup > m.created_at)
        or (read_after is not None and m.created_at < read_after)
    }


def _page(
    request: HttpRequest, conversation: Conversation | None, form: MessageForm | None = None, status: int = 200
) -> HttpResponse:
    chat_messages = list(conversation.messages.all()) if conversation else []
    context = {
        "conversation": conversation,
        "conversations": _conversations(request)[:SIDEBAR_LENGTH],
        "chat_messages": chat_messages,
        "continue_ready": continue_ready(chat_messages),
        "form": form or MessageForm(),
        "send_url": _send_url(conversation),
        "auto_topup_coming": _auto_topup_coming(),
    }
    return render(request, "chat/index.html", context, status=status)


def _see_other(url: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(url)
    response.status_code = 303  # post, redirect, get
    return response


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("Accept", "").startswith("application/json")


def _auto_topup_coming() -> str:
    """The amount of an automatic top-up under way ("$25"), for a message that ran out of credits."""
    cents = on_its_way()
    return format_dollars(cents) if cents else ""


def _fragment(
    request: HttpRequest, message: Message, coming: str = "", ready: set[int] | None = None
) -> dict[str, str]:
    context = {"message": message, "auto_topup_coming": coming, "continue_ready": ready or set()}
    html = render_to_string("chat/_message.html", context, request=request)
    return {"id": message.dom_id, "html": html}


def _json(
    request: HttpRequest, conversation: Conversation, messages: list[Message], status: int = 200, **extra: Any
) -> JsonResponse:
    sidebar = render_to_string(
        "chat/_conversations.html",
        {"conversations": _conversations(request)[:SIDEBAR_LENGTH], "conversation": conversation},
        request=request,
    )
    coming = _auto_topup_coming() if any(m.out_of_credits for m in messages) else ""
    ready = continue_ready(messages)
    body = {
        "conversation": {
            "id": conversation.pk,
            "title": str(conversation),
            "url": conversation.get_absolute_url(),
            "sendUrl": _send_url(conversation),
        },
        "messages": [_fragment(request, message, coming, ready) for message in messages],
        "sidebar": sidebar,
        **extra,
    }
    return JsonResponse(body, status=status)


@require_GET
@login_required
def index(request: HttpRequest) -> HttpResponse:
    """The latest conversation, or an empty one to start."""
    return _page(request, _conversations(request).first())


@require_GET
@login_required
def new(request: HttpRequest) -> HttpResponse:
    """An empty conversation; it is saved with its first message."""
    return _page(request, None)


@require_GET
@login_required
def conversation(request: HttpRequest, pk: int) -> HttpResponse:
    return _page(request, get_object_or_404(_conversations(request), pk=pk))


@require_POST
@login_required
@transaction.non_atomic_requests  # the agent is called with no transaction open
def send(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    current = get_object_or_404(_conversations(request), pk=pk) if pk is not None else None
    form = MessageForm(request.POST)
    if not form.is_valid():
        if _wants_json(request):
            error = next(iter(form.errors.get("text", [])), _("This message cannot be sent."))
            return JsonResponse({"error": error, "code": "invalid_message"}, status=400)
        return _page(request, current, form, status=400)
    created = current is None
    target = current or services.start_conversation(request.user)
    message, reply = services.post_message(target, form.cleaned_data["text"])
    if _wants_json(request):
        return _json(request, target, [message, reply], created=created)
    return _see_other(f"{target.get_absolute_url()}#{reply.dom_id}")


@require_POST
@login_required
@transaction.non_atomic_requests
def continue_task(request: HttpRequest, pk: int, message_id: int) -> HttpResponse:
    """Run the task a stopped message ended again, once; the new reply goes at the end."""
    target = get_object_or_404(_conversations(request), pk=pk)
    stopped = get_object_or_404(
        target.messages.filter(Q(out_of_credits=True) | Q(failed=True), role=Role.ASSISTANT), pk=message_id
    )
    reply = services.continue_task(stopped)
    stopped.refresh_from_db()
    if reply is None:
        if _wants_json(request):
            return _json(
                request,
                target,
                [stopped],
                status=409,
                error=_("This task was already continued."),
                code="already_continued",
            )
        return _see_other(f"{target.get_absolute_url()}#{stopped.dom_id}")
    if _wants_json(request):
        return _json(request, target, [stopped, reply])
    return _see_other(f"{target.get_absolute_url()}#{reply.dom_id}")
