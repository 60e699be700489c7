"""The one message template and the chat page: the widget appears for exhausted messages only."""

from __future__ import annotations

import re

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone

from chat.models import Conversation, Message, Role

pytestmark = pytest.mark.django_db

WIDGET = "Credits exhausted"


@pytest.fixture
def conversation(user):
    return Conversation.objects.create(user=user, title="Render")


@pytest.fixture
def render(user):
    def render(message):
        request = RequestFactory().get(message.conversation.get_absolute_url())
        request.user = user
        return render_to_string("chat/_message.html", {"message": message}, request=request)

    return render


def add(conversation, role, text, prompt=None, **flags):
    return Message.objects.create(conversation=conversation, role=role, text=text, prompt=prompt, **flags)


def test_the_widget_appears_for_a_message_that_ran_out_of_credits(conversation, render):
    asked = add(conversation, Role.USER, "go")
    html = render(add(conversation, Role.ASSISTANT, "No credits available.", asked, out_of_credits=True))
    assert html.count(WIDGET) == 1
    assert 'role="region"' in html and 'data-credits="inline"' in html
    assert re.search(r"<button type=\"submit\">Continue</button>", html)
    assert "data-chat-stopped" in html and "data-chat-after-topup" in html
    # the widget sits inside the assistant message that said "No credits available"
    article = html[html.index("<article") : html.index("</article>")]
    assert "No credits available." in article and WIDGET in article


@pytest.mark.parametrize(
    ("role", "flags"),
    [
        (Role.USER, {}),
        (Role.ASSISTANT, {}),
        (Role.ASSISTANT, {"failed": True}),
        (Role.ASSISTANT, {"out_of_credits": True, "continued_at": timezone.now}),
    ],
)
def test_the_widget_appears_for_no_other_message(conversation, render, role, flags):
    asked = add(conversation, Role.USER, "go")
    flags = {name: value() if callable(value) else value for name, value in flags.items()}
    html = render(add(conversation, role, "No credits available? Just text.", asked, **flags))
    assert WIDGET not in html and 'data-credits="inline"' not in html


def test_a_failed_task_offers_to_try_again(conversation, render):
    asked = add(conversation, Role.USER, "go")
    html = render(add(conversation, Role.ASSISTANT, "The agent failed: boom", asked, failed=True))
    assert "Try again" in html and "chat-message--failed" in html and "data-chat-after-topup" not in html


def test_text_is_escaped_and_keeps_its_lines(conversation, render):
    html = render(add(conversation, Role.USER, "<script>alert(1)</script>\nsecond line"))
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "<br>second line" in html


def test_the_page_has_the_composer_the_conversations_and_every_message(client, user):
    Conversation.objects.create(user=user, title="Older one")
    conversation = Conversation.objects.create(user=user, title="Latest")
    asked = add(conversation, Role.USER, "first question")
    add(conversation, Role.ASSISTANT, "No credits available.", asked, out_of_credits=True)
    client.force_login(user)
    html = client.get("/ui/").content.decode()
    assert '<label class="chat-visually-hidden" for="id_text">Message</label>' in html
    assert '<textarea name="text"' in html and ">Send</button>" in html
    assert "New conversation" in html and "Older one" in html and 'aria-current="page"' in html
    assert "first question" in html and html.count(WIDGET) == 1
    assert "chat/chat.js" in html and "chat/chat.css" in html
    assert f'action="/ui/c/{conversation.pk}/messages"' in html


def test_the_page_calls_no_landing_and_makes_few_queries(client, user, conversation, django_assert_max_num_queries):
    # Tests point CREDITS at a closed port: a landing call while rendering would fail loudly.
    for n in range(20):
        asked = add(conversation, Role.USER, f"q{n}")
        add(conversation, Role.ASSISTANT, "No credits available.", asked, out_of_credits=n % 2 == 0)
    client.force_login(user)
    # + the header's forecast (the last day's hourly samples, the newest), whether the credits run low
    with django_assert_max_num_queries(8 + 3):
        response = client.get(conversation.get_absolute_url())
    assert response.status_code == 200
    assert response.content.decode().count(WIDGET) == 10


def test_the_sandbox_badge_shows_while_the_sandbox_is_in_use(client, user, settings):
    client.force_login(user)
    assert "credits-sandbox" not in client.get("/ui/").content.decode()
    settings.CREDITS = {**settings.CREDITS, "SANDBOX": True}
    assert "credits-sandbox" in client.get("/ui/").content.decode()


def test_the_page_works_on_a_phone_and_wraps_long_words():
    from pathlib import Path

    from django.contrib.staticfiles import finders

    css = Path(finders.find("chat/chat.css")).read_text()
    assert "overflow-wrap: anywhere" in css
    assert "@media (max-width: 40rem)" in css and "prefers-color-scheme: dark" in css
    assert "column-reverse" in css and "overflow-y: auto" in css  # only the log scrolls, opened at the newest
