"""The chat's models and settings."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from chat.conf import get_settings
from chat.models import Conversation, Message, Role
from chat.services import post_message

pytestmark = pytest.mark.django_db


def say(conversation, role, text="hi", prompt=None, **flags):
    return Message.objects.create(conversation=conversation, role=role, text=text, prompt=prompt, **flags)


def test_a_message_knows_who_said_it_when_and_whether_it_ran_out(user):
    conversation = Conversation.objects.create(user=user)
    asked = say(conversation, Role.USER, "Summarise the logs")
    stopped = say(conversation, Role.ASSISTANT, "No credits available.", prompt=asked, out_of_credits=True)
    assert [m.pk for m in conversation.messages.all()] == [asked.pk, stopped.pk]
    assert stopped.created_at <= timezone.now()
    assert stopped.get_role_display() == "Agent" and asked.get_role_display() == "You"
    assert stopped.out_of_credits and not stopped.failed
    assert list(asked.replies.all()) == [stopped]
    assert str(asked) == "You: Summarise the logs"
    assert stopped.dom_id == f"m-{stopped.pk}"


def test_only_an_assistant_message_that_stopped_and_was_not_run_again_is_stopped(user):
    conversation = Conversation.objects.create(user=user)
    asked = say(conversation, Role.USER)
    assert not asked.is_stopped
    assert not say(conversation, Role.ASSISTANT, prompt=asked).is_stopped
    assert say(conversation, Role.ASSISTANT, prompt=asked, out_of_credits=True).is_stopped
    assert say(conversation, Role.ASSISTANT, prompt=asked, failed=True).is_stopped
    assert not say(
        conversation, Role.ASSISTANT, prompt=asked, out_of_credits=True, continued_at=timezone.now()
    ).is_stopped
    assert not say(conversation, Role.ASSISTANT, out_of_credits=True).is_stopped  # nothing to run again


def test_a_conversation_is_titled_by_its_first_message(user, settings):
    settings.CHAT = {"AGENT": "tests.test_chat_agents.polite_agent"}
    conversation = Conversation.objects.create(user=user)
    assert str(conversation) == "New conversation"
    post_message(conversation, "  Plan the   release\nfor Friday ")
    post_message(conversation, "Something else")
    conversation.refresh_from_db()
    assert conversation.title == "Plan the release for Friday"
    assert conversation.get_absolute_url() == f"/ui/c/{conversation.pk}/"

    long = Conversation.objects.create(user=user)
    post_message(long, "word " * 100)
    long.refresh_from_db()
    assert len(long.title) == 80 and long.title.endswith("…")


def test_conversations_list_the_latest_first(user, settings):
    settings.CHAT = {"AGENT": "tests.test_chat_agents.polite_agent"}
    first = Conversation.objects.create(user=user)
    second = Conversation.objects.create(user=user)
    assert list(Conversation.objects.all()) == [second, first]
    post_message(first, "back to the first")
    assert list(Conversation.objects.all()) == [first, second]


def test_settings_have_defaults_and_refuse_unknown_keys(settings):
    del settings.CHAT
    conf = get_settings()
    assert conf.AGENT == "chat.agents.DemoAgent"
    assert conf.OUT_OF_CREDITS_MARKER == "No credits available"
    assert conf.SPEND_CENTS == 25
    settings.CHAT = {"SPEND_CENT": 5}
    with pytest.raises(ImproperlyConfigured, match="SPEND_CENT"):
        get_settings()
    settings.CHAT = ["AGENT"]
    with pytest.raises(ImproperlyConfigured, match="must be a dict"):
        get_settings()


def test_settings_are_kept_until_they_change(settings):
    settings.CHAT = {"SPEND_CENTS": 7}
    assert get_settings() is get_settings()
    settings.CHAT = {"SPEND_CENTS": 8}
    assert get_settings().SPEND_CENTS == 8


def test_the_log_in_settings_moved_out_of_chat_and_the_error_says_where(settings):
    settings.CHAT = {"MAGIC_LINK_SECONDS": 60}
    with pytest.raises(ImproperlyConfigured, match=r"MAGIC_LINKS\['SECONDS'\]"):
        get_settings()
