"""The chat in the admin: conversations with their messages, read-only message rows."""

from __future__ import annotations

import pytest

from chat.models import Conversation, Message, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123"))
    return client


def test_conversations_and_messages_are_listed_and_readable(admin_client, user):
    conversation = Conversation.objects.create(user=user, title="Deploy")
    asked = Message.objects.create(conversation=conversation, role=Role.USER, text="ship it")
    Message.objects.create(
        conversation=conversation, role=Role.ASSISTANT, text="No credits available.", prompt=asked, out_of_credits=True
    )
    assert "Deploy" in admin_client.get("/admin/chat/conversation/").content.decode()
    detail = admin_client.get(f"/admin/chat/conversation/{conversation.pk}/change/").content.decode()
    assert "ship it" in detail and "No credits available." in detail
    listing = admin_client.get("/admin/chat/message/?out_of_credits__exact=1").content.decode()
    assert "No credits available." in listing and "ship it" not in listing
    assert admin_client.get(f"/admin/chat/message/{asked.pk}/change/").status_code == 200
