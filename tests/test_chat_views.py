"""Sending and continuing: a plain form (post, redirect, get) or a fetch answering JSON."""

from __future__ import annotations

import pytest

from chat.models import Conversation, Message, Role

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


@pytest.fixture
def agent(settings):
    settings.CHAT = {"AGENT": "tests.test_chat_agents.polite_agent"}
    return settings


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def test_the_chat_needs_a_log_in(client):
    response = client.get("/ui/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.post("/ui/messages", {"text": "hi"}).status_code == 302
    assert not Message.objects.exists()


def test_without_javascript_sending_posts_redirects_and_gets(agent, logged_in, user):
    response = logged_in.post("/ui/messages", {"text": "hello there"})
    conversation = Conversation.objects.get(user=user)
    reply = conversation.messages.get(role=Role.ASSISTANT)
    assert response.status_code == 303
    assert response["Location"] == f"/ui/c/{conversation.pk}/#m-{reply.pk}"
    page = logged_in.get(response["Location"]).content.decode()
    assert "hello there" in page and "Noted: hello there" in page

    assert logged_in.post(f"/ui/c/{conversation.pk}/messages", {"text": "again"}).status_code == 303
    assert conversation.messages.count() == 4
    assert Conversation.objects.count() == 1


def test_with_javascript_sending_answers_the_message_fragments(agent, logged_in, user):
    response = logged_in.post("/ui/messages", {"text": "hello"}, **JSON)
    assert response.status_code == 200
    body = response.json()
    conversation = Conversation.objects.get(user=user)
    asked, reply = conversation.messages.all()
    assert body["created"] is True
    assert body["conversation"] == {
        "id": conversation.pk,
        "title": "hello",
        "url": f"/ui/c/{conversation.pk}/",
        "sendUrl": f"/ui/c/{conversation.pk}/messages",
    }
    assert [m["id"] for m in body["messages"]] == [f"m-{asked.pk}", f"m-{reply.pk}"]
    assert f'id="m-{reply.pk}"' in body["messages"][1]["html"] and "Noted: hello" in body["messages"][1]["html"]
    assert 'aria-current="page"' in body["sidebar"]
    again = logged_in.post(f"/ui/c/{conversation.pk}/messages", {"text": "more"}, **JSON).json()
    assert again["created"] is False


def test_an_empty_message_is_refused_in_words(agent, logged_in):
    response = logged_in.post("/ui/messages", {"text": "   "})
    assert response.status_code == 400 and "Write a message first." in response.content.decode()
    response = logged_in.post("/ui/messages", {"text": ""}, **JSON)
    assert response.status_code == 400
    assert response.json() == {"error": "Write a message first.", "code": "invalid_message"}
    assert not Conversation.objects.exists()


def test_a_failing_agent_is_a_message_not_a_500(settings, logged_in):
    settings.CHAT = {"AGENT": "tests.test_chat_agents.failing_agent"}
    response = logged_in.post("/ui/messages", {"text": "go"}, **JSON)
    assert response.status_code == 200
    assert "The agent failed: model overloaded" in response.json()["messages"][1]["html"]
    assert "Try again" in response.json()["messages"][1]["html"]


def test_another_users_conversation_is_not_found(agent, client, user, other_user):
    mine = Conversation.objects.create(user=user)
    client.force_login(other_user)
    assert client.get(f"/ui/c/{mine.pk}/").status_code == 404
    assert client.post(f"/ui/c/{mine.pk}/messages", {"text": "hi"}).status_code == 404
    assert f"ui/c/{mine.pk}" not in client.get("/ui/").content.decode()
    assert not mine.messages.exists()


def test_new_shows_an_empty_conversation_and_the_index_the_latest(agent, logged_in, user):
    logged_in.post("/ui/messages", {"text": "first"})
    page = logged_in.get("/ui/").content.decode()
    assert "Noted: first" in page
    page = logged_in.get("/ui/new").content.decode()
    assert "Noted: first" not in page and 'action="/ui/messages"' in page


def test_continue_runs_the_stopped_task_again(settings, logged_in, user):
    settings.CHAT = {"AGENT": "tests.test_chat_agents.flagged_agent"}
    logged_in.post("/ui/messages", {"text": "the task"})
    conversation = Conversation.objects.get(user=user)
    stopped = conversation.messages.get(role=Role.ASSISTANT)
    url = f"/ui/c/{conversation.pk}/messages/{stopped.pk}/continue"

    settings.CHAT = {"AGENT": "tests.test_chat_agents.polite_agent"}
    response = logged_in.post(url, **JSON)
    assert response.status_code == 200
    first, second = response.json()["messages"]
    assert first["id"] == f"m-{stopped.pk}" and "Credits exhausted" not in first["html"]
    assert "run again below" in first["html"] and "Noted: the task" in second["html"]

    again = logged_in.post(url, **JSON)  # a double click runs it once
    assert again.status_code == 409 and again.json()["code"] == "already_continued"
    assert conversation.messages.count() == 3
    assert logged_in.post(url).status_code == 303


def test_continue_without_javascript_redirects_to_the_new_reply(settings, logged_in, user):
    settings.CHAT = {"AGENT": "tests.test_chat_agents.flagged_agent"}
    logged_in.post("/ui/messages", {"text": "the task"})
    stopped = Message.objects.get(role=Role.ASSISTANT)
    response = logged_in.post(f"/ui/c/{stopped.conversation_id}/messages/{stopped.pk}/continue")
    newest = Message.objects.latest("id")
    assert response.status_code == 303 and response["Location"].endswith(f"#m-{newest.pk}")
    assert newest.out_of_credits  # still no credits: stopped again, with its own widget


def test_only_a_stopped_message_can_be_continued(agent, logged_in, user):
    logged_in.post("/ui/messages", {"text": "fine"})
    asked, reply = Message.objects.all()
    for message in (asked, reply):
        assert logged_in.post(f"/ui/c/{message.conversation_id}/messages/{message.pk}/continue").status_code == 404


def test_pages_refuse_the_wrong_method(agent, logged_in):
    assert logged_in.get("/ui/messages").status_code == 405
    assert logged_in.post("/ui/").status_code == 405


def test_site_messages_show_on_the_chat_page_after_a_form_topup(sandbox, user):
    """The chat's own messages never hide django.contrib.messages in the base page."""
    from django.test import Client

    browser = Client()
    browser.force_login(user)
    response = browser.post("/ui/api/topup-form", {"amount": "10", "key": "form-1", "next": "/ui/"}, follow=True)
    assert response.redirect_chain[-1][0] == "/ui/"
    assert "Added $10" in response.content.decode()
