"""The agent interface, and the demo agent that plays the credits loop against a landing.

An agent is named by a dotted path in ``settings.CHAT["AGENT"]``: a class (made with no
arguments) with a ``respond(conversation, message)`` method, or a plain callable with the
same arguments. It returns an :class:`AgentReply`, or only text, in which case the marker
``CHAT["OUT_OF_CREDITS_MARKER"]`` ("No credits available") in the text means the task ran
out of credits. Agents are called outside any database transaction and may be slow; an
exception becomes a visible assistant message (see ``chat.services``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from credits.balance import BalanceUnavailable, read_balance

from .conf import get_settings

if TYPE_CHECKING:
    from .models import Conversation, Message

NO_CREDITS_TEXT = "No credits available. Add credits to continue."


@dataclass(frozen=True)
class AgentReply:
    text: str
    out_of_credits: bool = False


class AgentError(Exception):
    """The agent could not answer; the message is shown to the user."""


Respond = Callable[["Conversation", "Message"], "AgentReply | str"]


def get_agent() -> Respond:
    """The configured agent's ``respond`` callable."""
    target: Any = import_string(get_settings().AGENT)
    if isinstance(target, type):
        target = target()
    respond = getattr(target, "respond", target)
    if not callable(respond):
        raise TypeError(f"CHAT['AGENT'] ({get_settings().AGENT}) is neither callable nor has a respond method")
    return respond  # type: ignore[no-any-return]


def as_reply(answer: AgentReply | str) -> AgentReply:
    """An agent's answer as an :class:`AgentReply`; plain text is checked for the marker."""
    if isinstance(answer, AgentReply):
        return answer
    if isinstance(answer, str):
        marker = get_settings().OUT_OF_CREDITS_MARKER
        return AgentReply(answer, out_of_credits=bool(marker and marker in answer))
    raise TypeError(f"an agent returned {type(answer).__name__}, not an AgentReply or text")


class DemoAgent:
    """The demo agent of docs/contract.md section 5: balance first, then spend, then answer.

    It asks ``GET /api/reef/credits``; with nothing remaining the task stops with
    "No credits available". Otherwise it spends ``CHAT["SPEND_CENTS"]`` through
    ``POST /api/reef/spend`` (402: out of credits too) and answers with a short reply
    made from the message. Landing failures raise, so they show as a failed task.
    """

    def respond(self, conversation: Conversation, message: Message) -> AgentReply:
        try:
            balance = read_balance()  # fresh, and the auto top-up rule sees it
        except BalanceUnavailable as exc:
            raise AgentError(str(exc)) from exc
        if balance["remaining"] <= 0:
            return AgentReply(NO_CREDITS_TEXT, out_of_credits=True)
        try:
            # The balance after it (which the header then shows), or None: nothing left (402).
            from credits.testing import spend  # the demo spends at the sandbox landing only

            after = spend(get_settings().SPEND_CENTS)
        except BalanceUnavailable as exc:
            raise AgentError(str(exc)) from exc
        if after is None:
            return AgentReply(NO_CREDITS_TEXT, out_of_credits=True)
        return AgentReply(compose(message.text, conversation.messages.count()))


def compose(text: str, position: int) -> str:
    """A short, friendly, deterministic answer to ``text``."""
    words = text.split()
    gist = " ".join(words[:12]) + ("…" if len(words) > 12 else "")
    if text.rstrip().endswith("?"):
        opening = _("Good question. ")
    elif position <= 1:
        opening = _("Hello! ")
    else:
        opening = ""
    return _(
        "%(opening)sYou wrote %(count)s word(s): “%(gist)s”. I am the demo agent: I answer every "
        "message like this and spend a little of the team's credits each time, so you can watch "
        "the balance go down and top it up right here when it runs out."
    ) % {"opening": opening, "count": len(words), "gist": gist}
