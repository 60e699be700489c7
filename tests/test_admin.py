"""The audit in the Django admin: read-only, amounts in dollars, filters, search, dates."""

from __future__ import annotations

from django.contrib.admin.sites import site

from credits.admin import TopupAttemptAdmin
from credits.models import Status, TopupAttempt


def test_the_audit_is_read_only(admin_client, sandbox, api):
    api.topup({"amountCents": 2500})
    attempt = TopupAttempt.objects.get()
    assert admin_client.get("/admin/credits/topupattempt/add/").status_code == 403
    page = admin_client.get(f"/admin/credits/topupattempt/{attempt.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert (
        admin_client.post(f"/admin/credits/topupattempt/{attempt.pk}/change/", {"status": "error"}).status_code == 403
    )
    assert admin_client.get(f"/admin/credits/topupattempt/{attempt.pk}/delete/").status_code == 403
    response = admin_client.post(
        "/admin/credits/topupattempt/",
        {"action": "delete_selected", "_selected_action": [str(attempt.pk)], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    assert TopupAttempt.objects.get().status == Status.SUCCEEDED


def test_the_list_shows_dollars_and_offers_filters_and_search(admin_client, sandbox, api):
    api.topup({"amountCents": 2500}, key="find-me")
    page = admin_client.get("/admin/credits/topupattempt/").content.decode()
    assert "$25" in page
    assert "By status" in page and "By source" in page and "By created at" in page
    assert admin_client.get("/admin/credits/topupattempt/?q=find-me").context["cl"].result_count == 1
    assert admin_client.get("/admin/credits/topupattempt/?q=ada").context["cl"].result_count == 1
    assert admin_client.get("/admin/credits/topupattempt/?q=nobody").context["cl"].result_count == 0
    assert admin_client.get("/admin/credits/topupattempt/?status__exact=declined").context["cl"].result_count == 0


def test_admin_configuration():
    model_admin = site._registry[TopupAttempt]
    assert isinstance(model_admin, TopupAttemptAdmin)
    assert model_admin.date_hierarchy == "created_at"
    assert set(model_admin.readonly_fields) == set(model_admin.fields)
    assert {"status", "source", "created_at"} <= set(model_admin.list_filter)


def test_settle_now_settles_the_selected_unknown_attempts_and_nothing_else(admin_client, sandbox, user):
    from datetime import timedelta

    from django.utils import timezone

    from credits.models import SettledBy

    unknown = TopupAttempt.objects.create(
        user=user,
        amount_cents=1000,
        idempotency_key="u",
        upstream_key="reef-u",
        status=Status.UNKNOWN,
        settle_at=timezone.now() + timedelta(hours=1),  # its backoff has not passed: the operator does not wait
    )
    in_flight = TopupAttempt.objects.create(
        user=user,
        amount_cents=500,
        idempotency_key="p",
        upstream_key="reef-p",
        settle_at=timezone.now() + timedelta(seconds=30),
    )
    done = TopupAttempt.objects.create(
        user=user, amount_cents=700, idempotency_key="d", upstream_key="reef-d", status=Status.SUCCEEDED
    )
    page = admin_client.get("/admin/credits/topupattempt/")
    assert b"Settle now" in page.content
    response = admin_client.post(
        "/admin/credits/topupattempt/",
        {"action": "settle_now", "_selected_action": [str(unknown.pk), str(in_flight.pk), str(done.pk)]},
        follow=True,
    )
    text = response.content.decode()
    assert "1 attempt settled." in text
    assert "1 still within their landing call" in text
    unknown.refresh_from_db()
    assert (unknown.status, unknown.settled_by, unknown.first_status) == (Status.SUCCEEDED, SettledBy.ADMIN, "unknown")
    assert TopupAttempt.objects.get(pk=in_flight.pk).status == Status.PENDING
    assert [c["key"] for c in sandbox.state.snapshot()["charges"]] == ["reef-u"]


def test_settle_now_is_for_staff_who_may_view_the_audit(client, django_user_model, sandbox, user):
    staff = django_user_model.objects.create_user("staff", password="pw-staff-123", is_staff=True)
    attempt = TopupAttempt.objects.create(
        user=user, amount_cents=1000, idempotency_key="u", upstream_key="reef-u", status=Status.UNKNOWN
    )
    client.force_login(staff)
    response = client.post(
        "/admin/credits/topupattempt/", {"action": "settle_now", "_selected_action": [str(attempt.pk)]}
    )
    assert response.status_code == 403
    assert TopupAttempt.objects.get().status == Status.UNKNOWN
    assert sandbox.state.snapshot()["topupRequests"] == 0


def test_the_list_shows_the_source_and_what_was_answered_beside_the_status(admin_client, user):
    TopupAttempt.objects.create(
        user=user,
        amount_cents=1000,
        idempotency_key="d",
        upstream_key="reef-d",
        status=Status.DECLINED,
        source="warning",
        landing_status=402,
        error_code="card_declined",
        error_message="Your card was declined.",
    )
    page = admin_client.get("/admin/credits/topupattempt/")
    columns = [column["text"] for column in page.context["result_headers"]]
    assert columns[columns.index("status") - 1 : columns.index("status") + 2] == ["source", "status", "code"]
    text = page.content.decode()
    assert '<span title="Low-credits warning">warning</span>' in text
    # Each word kept whole (admin.css): the landing's status, then the code, never split at its "_".
    assert (
        '<span title="Your card was declined."><span class="credits-word">402</span> '
        '<span class="credits-word">card_declined</span></span>'
    ) in text
    assert "<wbr>" not in text


def test_every_field_of_an_attempt_is_explained_in_a_plain_sentence():
    """The attempt's page is read by support: each field has a label and a help text in words,
    with no field's own name (such as upstream_key) standing in for an explanation."""
    model_admin = site._registry[TopupAttempt]
    names = {field.name for field in TopupAttempt._meta.get_fields() if "_" in field.name}  # as upstream_key
    for name in model_admin.fields:
        if name == "amount":  # the amount in dollars, which says itself
            continue
        field = TopupAttempt._meta.get_field(name)
        label, help_text = str(field.verbose_name), str(field.help_text)
        assert "_" not in label, label
        assert help_text[:1].isupper() and help_text.endswith("."), (name, help_text)
        words = set(help_text.replace(",", " ").replace(".", " ").split())
        assert not words & names, (name, words & names)
        assert not {"True", "False", "landing", "upstream", "idempotency"} & words, (name, help_text)
