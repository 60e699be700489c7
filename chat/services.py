"""Running a task: save the user's message, call the agent outside any transaction, save the reply."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from credits.client import redact

from .agents import AgentReply, as_reply, get_agent
from .models import TITLE_LENGTH, Conversation, Message, Role

logger = logging.getLogger("chat")

MAX_ERROR_LENGTH = 300


def start_conversation(user: Any) -> Conversation:
    return Conversation.objects.create(user=user)


def post_message(conversation: Conversation, text: str) -> tuple[Message, Message]:
    """Save ``text`` as the user's message, then run the agent on it: (the message, the reply)."""
    message = Message.objects.create(conversation=conversation, role=Role.USER, text=text)
    if not conversation.title:
        conversation.title = _title(text)
    conversation.save(update_fields=["title", "updated_at"])
    return message, run_agent(conversation, message)


def continue_task(stopped: Message) -> Message | None:
    """Run the task that ``stopped`` ended again; None when it was already run again."""
    claimed = (
        Message.objects.filter(pk=stopped.pk, role=Role.ASSISTANT, prompt__isnull=False, continued_at__isnull=True)
        .filter(Q(out_of_credits=True) | Q(failed=True))
        .update(continued_at=timezone.now())
    )
    if not claimed:
        return None
    stopped.refresh_from_db(fields=["continued_at"])
    assert stopped.prompt is not None
    return run_agent(stopped.conversation, stopped.prompt)


def run_agent(conversation: Conversation, message: Message) -> Message:
    """Call the agent on ``message`` and save what it said, or that it failed."""
    # No transaction is open here (the views are non-atomic): a slow agent holds no locks.
    try:
        reply = as_reply(get_agent()(conversation, message))
    except Exception as exc:
        logger.exception("The chat agent failed on message %s", message.pk)
        reason = redact(str(exc) or type(exc).__name__)[:MAX_ERROR_LENGTH]
        reply = AgentReply(_("The agent failed: %(reason)s") % {"reason": reason})
        failed = True
    else:
        failed = False
    with transaction.atomic():
        saved = Message.objects.create(
            conversation=conversation,
            role=Role.ASSISTANT,
            text=reply.text,
            prompt=message,
            out_of_credits=reply.out_of_credits and not failed,
            failed=failed,
        )
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
    return saved


def _title(text: str) -> str:
    title = " ".join(text.split())
    return title if len(title) <= TITLE_LENGTH else title[: TITLE_LENGTH - 1].rstrip() + "…"
