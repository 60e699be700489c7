"""The agent interface (a dotted path in settings) and the demo agent against the sandbox."""

from __future__ import annotations

import logging

import httpx
import pytest
from django.core.cache import cache
from django.db import connection

from chat.agents import NO_CREDITS_TEXT, AgentReply, DemoAgent, compose
from chat.models import Conversation, Message
from chat.services import continue_task, post_message
from credits import client
from credits.balance import CACHE_KEY
from credits.testing import override_transport

pytestmark = pytest.mark.django_db

# -- agents named by dotted path in the tests below ------------------------------------------


def polite_agent(conversation, message):
    return AgentReply(f"Noted: {message.text}")


def text_only_agent(conversation, message):
    return "Sorry: No credits available right now."


def flagged_agent(conversation, message):
    return AgentReply("I stopped.", out_of_credits=True)


def failing_agent(conversation, message):
    raise RuntimeError(f"model overloaded, token {client.get_settings().AUTH_TOKEN}")


def confused_agent(conversation, message):
    return 42


class ClassAgent:
    def respond(self, conversation, message):
        return AgentReply(f"A class answered {message.text!r}")


seen_atomic: list[bool] = []


def transaction_probe(conversation, message):
    seen_atomic.append(connection.in_atomic_block)
    return AgentReply("probed")


# --------------------------------------------------------------------------------------------


@pytest.fixture
def conversation(user):
    return Conversation.objects.create(user=user)


def use(settings, agent, **extra):
    settings.CHAT = {"AGENT": agent, **extra}


def test_a_function_agent_answers(settings, conversation):
    use(settings, "tests.test_chat_agents.polite_agent")
    message, reply = post_message(conversation, "ship it")
    assert (message.role, message.text) == ("user", "ship it")
    assert (reply.role, reply.text, reply.prompt) == ("assistant", "Noted: ship it", message)
    assert not reply.out_of_credits and not reply.failed


def test_a_class_agent_answers(settings, conversation):
    use(settings, "tests.test_chat_agents.ClassAgent")
    assert post_message(conversation, "hi")[1].text == "A class answered 'hi'"


def test_the_structured_flag_marks_a_task_out_of_credits(settings, conversation):
    use(settings, "tests.test_chat_agents.flagged_agent")
    reply = post_message(conversation, "go")[1]
    assert reply.out_of_credits and reply.is_stopped


def test_text_with_the_marker_means_out_of_credits_for_text_only_agents(settings, conversation):
    use(settings, "tests.test_chat_agents.text_only_agent")
    assert post_message(conversation, "go")[1].out_of_credits
    use(settings, "tests.test_chat_agents.text_only_agent", OUT_OF_CREDITS_MARKER="Out of juice")
    assert not post_message(conversation, "go")[1].out_of_credits
    use(settings, "tests.test_chat_agents.text_only_agent", OUT_OF_CREDITS_MARKER=None)
    assert not post_message(conversation, "go")[1].out_of_credits


def test_a_failing_agent_becomes_a_visible_message_logged_without_the_token(settings, conversation, caplog):
    use(settings, "tests.test_chat_agents.failing_agent")
    with caplog.at_level(logging.ERROR, logger="chat"):
        message, reply = post_message(conversation, "go")
    assert reply.failed and not reply.out_of_credits and reply.is_stopped
    assert reply.text.startswith("The agent failed: model overloaded")
    assert settings.TEST_TOKEN not in reply.text
    assert "[redacted]" in reply.text
    assert Message.objects.filter(pk=message.pk).exists()  # the user's words are kept
    record = next(r for r in caplog.records if r.name == "chat")
    assert record.exc_info and "failed" in record.getMessage()


def test_an_agent_answering_nonsense_is_a_failure_too(settings, conversation):
    use(settings, "tests.test_chat_agents.confused_agent")
    reply = post_message(conversation, "go")[1]
    assert reply.failed and "int" in reply.text


def test_a_missing_agent_is_a_visible_failure(settings, conversation):
    use(settings, "tests.test_chat_agents.no_such_agent")
    reply = post_message(conversation, "go")[1]
    assert reply.failed and "no_such_agent" in reply.text


@pytest.mark.django_db(transaction=True)
def test_the_agent_is_called_outside_any_transaction(settings, user):
    use(settings, "tests.test_chat_agents.transaction_probe")
    seen_atomic.clear()
    conversation = Conversation.objects.create(user=user)
    post_message(conversation, "go")
    assert seen_atomic == [False]


def test_continue_runs_the_stopped_task_again_once(settings, conversation):
    use(settings, "tests.test_chat_agents.flagged_agent")
    message, stopped = post_message(conversation, "the task")
    use(settings, "tests.test_chat_agents.polite_agent")
    reply = continue_task(stopped)
    assert reply is not None and reply.text == "Noted: the task" and reply.prompt == message
    stopped.refresh_from_db()
    assert stopped.continued_at is not None and not stopped.is_stopped
    assert continue_task(stopped) is None
    assert conversation.messages.count() == 3


def test_an_answered_message_cannot_be_continued(settings, conversation):
    use(settings, "tests.test_chat_agents.polite_agent")
    _, reply = post_message(conversation, "fine")
    assert continue_task(reply) is None


# -- the demo agent ---------------------------------------------------------------------------


def test_the_demo_agent_checks_the_balance_then_spends(sandbox, settings, conversation):
    use(settings, "chat.agents.DemoAgent", SPEND_CENTS=25)
    reply = post_message(conversation, "What is the plan for today?")[1]
    assert not reply.out_of_credits and not reply.failed
    assert "Good question" in reply.text and "“What is the plan for today?”" in reply.text
    state = sandbox.state.snapshot()
    assert (state["spend"], state["remaining"]) == (0.25, 9.75)
    assert cache.get(CACHE_KEY) == {"credits": 10.0, "spend": 0.25, "remaining": 9.75}  # the header reads it


def test_the_demo_agent_stops_when_nothing_remains(sandbox, settings, conversation):
    use(settings, "chat.agents.DemoAgent")
    sandbox.state.configure(credits=1, spend=1)
    reply = post_message(conversation, "hello")[1]
    assert reply.out_of_credits and reply.text == NO_CREDITS_TEXT
    assert "No credits available" in reply.text
    assert sandbox.state.snapshot()["spend"] == 1.0  # nothing spent


def test_the_demo_agent_uses_up_a_small_balance_then_stops(sandbox, settings, conversation):
    use(settings, "chat.agents.DemoAgent", SPEND_CENTS=25)
    sandbox.state.configure(credits=0.5)
    replies = [post_message(conversation, f"message {n}")[1] for n in range(3)]
    assert [r.out_of_credits for r in replies] == [False, False, True]
    sandbox.state.configure(credits=25.5)  # a top-up
    assert not continue_task(replies[-1]).out_of_credits


def test_a_402_from_spend_also_means_out_of_credits(settings, conversation):
    use(settings, "chat.agents.DemoAgent")

    def landing(request):
        if request.url.path == "/api/reef/credits":
            return httpx.Response(200, json={"credits": 1.0, "spend": 0.9, "remaining": 0.1})
        return httpx.Response(402, json={"error": "No credits available.", "code": "no_credits"})

    with override_transport(httpx.MockTransport(landing)):
        reply = post_message(conversation, "hello")[1]
    assert reply.out_of_credits and not reply.failed


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"/api/reef/credits": httpx.Response(401, json={"error": "no"})}, "401 without a balance"),
        ({"/api/reef/credits": httpx.Response(200, text="<html>")}, "200 without a balance"),
        (
            {
                "/api/reef/credits": httpx.Response(200, json={"credits": 5.0, "spend": 0.0, "remaining": 5.0}),
                "/api/reef/spend": httpx.Response(500, text="oops"),
            },
            "refused to record the spend (500)",
        ),
    ],
)
def test_a_bad_landing_answer_is_a_visible_failure(settings, conversation, answers, expected):
    use(settings, "chat.agents.DemoAgent")
    with override_transport(httpx.MockTransport(lambda request: answers[request.url.path])):
        reply = post_message(conversation, "hello")[1]
    assert reply.failed and expected in reply.text


def test_an_unreachable_landing_is_a_visible_failure(settings, conversation):
    use(settings, "chat.agents.DemoAgent")  # tests point CREDITS at port 9, where nothing listens
    reply = post_message(conversation, "hello")[1]
    assert reply.failed and "cannot connect to the landing" in reply.text


def test_the_demo_answer_is_short_friendly_and_deterministic():
    assert compose("hi there", 1) == compose("hi there", 1)
    assert compose("hi there", 1).startswith("Hello! You wrote 2 word(s): “hi there”.")
    assert compose("why?", 3).startswith("Good question.")
    long = compose("word " * 40, 5)
    assert "word word" in long and "…”" in long and len(long) < 400


def test_the_demo_agent_is_the_default(settings):
    del settings.CHAT
    from chat.agents import get_agent

    assert isinstance(get_agent().__self__, DemoAgent)


NOT_AN_AGENT = "a string is not an agent"


def test_an_agent_path_to_something_not_callable_is_a_visible_failure(settings, conversation):
    use(settings, "tests.test_chat_agents.NOT_AN_AGENT")
    reply = post_message(conversation, "go")[1]
    assert reply.failed and "neither callable nor has a respond method" in reply.text
