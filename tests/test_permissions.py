"""Who may add credits: CREDITS["TOPUP_PERMISSION"] (docs/contract.md section 7)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.contrib.messages import get_messages
from django.core.checks import Warning
from django.template import Context, Template
from django.test import Client, RequestFactory

from credits.checks import check_topup_permission, check_topup_permission_exists
from credits.conf import get_settings
from credits.models import TopupAttempt
from credits.permissions import amay_top_up, may_top_up, who_to_ask
from tests.conftest import make_api

pytestmark = pytest.mark.django_db

FORM = "/ui/api/topup-form"
PAGE = """{% load credits %}<header>{% credits_button %}</header>
<article>{% include "credits/inline_widget.html" %}</article><article>{% credits_inline_widget %}</article>"""
AMOUNTS = ("$5", "$10", "$25", "$50")


@pytest.fixture
def required(settings: Any) -> Any:
    """Top-ups need credits.top_up (after ``sandbox``, when a test asks for both)."""
    settings.CREDITS = {**settings.CREDITS, "TOPUP_PERMISSION": "credits.top_up"}
    return settings


def top_up_permission() -> Permission:
    return Permission.objects.get(content_type__app_label="credits", codename="top_up")


def grant(user: Any) -> Any:
    user.user_permissions.add(top_up_permission())
    return type(user).objects.get(pk=user.pk)  # a fresh object: has_perm caches per object


def render(user: Any, source: str = PAGE) -> str:
    request = RequestFactory().get("/ui/")
    request.user = user
    return Template(source).render(Context({"request": request}))


# --- the API and the form ----------------------------------------------------------------


def test_unset_every_logged_in_user_may_as_in_reef(sandbox, api, user):
    assert (get_settings().TOPUP_PERMISSION, get_settings().TOPUP_CONTACT) == (None, "")
    assert may_top_up(user)
    assert not may_top_up(AnonymousUser())
    response = api.topup({"amountCents": 1000})
    assert response.status_code == 200
    assert sandbox.state.snapshot()["topupRequests"] == 1


def test_an_empty_permission_is_no_permission(sandbox, api, settings):
    settings.CREDITS = {**settings.CREDITS, "TOPUP_PERMISSION": ""}
    assert api.topup({"amountCents": 1000}).status_code == 200


def test_set_a_user_without_it_gets_403_forbidden_and_nothing_is_sent_or_recorded(
    sandbox, required, api, django_user_model
):
    django_user_model.objects.create_user("grace", "g@example.com", "pw").user_permissions.add(top_up_permission())
    response = api.topup({"amountCents": 1000}, key="k-1")
    assert response.status_code == 403
    assert response.json() == {
        "error": "You may not add credits on this site. Ask grace to add credits.",
        "code": "forbidden",
        "outcome": "refused",
    }
    assert response["Content-Type"] == "application/json"
    assert sandbox.state.snapshot()["topupRequests"] == 0
    assert TopupAttempt.objects.count() == 0


def test_the_refusal_comes_before_the_body_but_after_log_in_and_csrf(sandbox, required, user):
    assert make_api(user).topup(raw=b"not json").json()["code"] == "forbidden"
    assert make_api(user, csrf=False).topup({"amountCents": 1000}).json()["code"] == "csrf_failed"
    assert make_api().topup({"amountCents": 1000}).status_code == 401
    assert sandbox.state.snapshot()["topupRequests"] == 0


def test_the_form_refuses_likewise_with_a_message(sandbox, required, user):
    client = Client()
    client.force_login(user)
    response = client.post(FORM, {"amount": "10", "key": "page-key", "next": "/ui/c/3/"})
    assert response.status_code == 302
    assert response["Location"] == "/ui/c/3/"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "You may not add credits on this site. Ask your team's administrator to add credits."
    ]
    assert sandbox.state.snapshot()["topupRequests"] == 0
    assert TopupAttempt.objects.count() == 0


def test_the_balance_and_the_recent_top_ups_stay_open_to_everyone(sandbox, required, api):
    assert api.balance().json()["remaining"] == 10.0
    assert api.client.get("/ui/api/recent-topups").json() == {"topups": []}


def test_holding_it_directly_by_a_group_or_as_superuser_may(sandbox, required, user, other_user, django_user_model):
    group = Group.objects.create(name="billing")
    group.permissions.add(top_up_permission())
    other_user.groups.add(group)
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    for holder in (grant(user), other_user, admin):
        response = make_api(holder).topup({"amountCents": 500})
        assert response.status_code == 200, (holder, response.json())
    assert sandbox.state.snapshot()["topupRequests"] == 3
    assert TopupAttempt.objects.count() == 3


def test_the_form_lets_a_holder_through(sandbox, required, user):
    client = Client()
    client.force_login(grant(user))
    response = client.post(FORM, {"amount": "10", "key": "page-key", "next": "/"})
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Added $10"]
    assert sandbox.state.snapshot()["topupRequests"] == 1


def test_an_inactive_holder_may_not(required, user):
    user = grant(user)
    user.is_active = False
    assert not may_top_up(user)


def test_the_async_check_agrees(required, user, django_user_model):
    assert not async_to_sync(amay_top_up)(user)
    assert async_to_sync(amay_top_up)(grant(user))
    assert not async_to_sync(amay_top_up)(AnonymousUser())
    assert async_to_sync(amay_top_up)(django_user_model.objects.create_superuser("root", "r@example.com", "pw"))


# --- who to ask --------------------------------------------------------------------------


def test_who_to_ask_names_up_to_three_holders_those_holding_it_outright_first(required, django_user_model):
    perm = top_up_permission()
    group = Group.objects.create(name="billing")
    group.permissions.add(perm)
    django_user_model.objects.create_superuser("admin", "a@example.com", "pw")
    django_user_model.objects.create_user("zed", "z@example.com", "pw").groups.add(group)
    django_user_model.objects.create_user("ada", "ada@example.com", "pw", first_name="Ada", last_name="Lovelace")
    django_user_model.objects.get(username="ada").user_permissions.add(perm)
    gone = django_user_model.objects.create_user("bob", "b@example.com", "pw", is_active=False)
    gone.user_permissions.add(perm)
    django_user_model.objects.create_user("carol", "c@example.com", "pw")  # holds nothing
    assert who_to_ask() == "Ask Ada Lovelace, zed or admin to add credits."
    django_user_model.objects.create_user("amy", "amy@example.com", "pw").groups.add(group)
    assert who_to_ask() == "Ask Ada Lovelace, zed or admin to add credits."  # cached a minute
    from django.core.cache import cache

    cache.clear()
    assert who_to_ask() == "Ask Ada Lovelace, amy or zed to add credits."


def test_who_to_ask_costs_one_query_then_none(required, django_user_model, django_assert_num_queries):
    django_user_model.objects.create_superuser("admin", "a@example.com", "pw")
    with django_assert_num_queries(1):
        assert who_to_ask() == "Ask admin to add credits."
    with django_assert_num_queries(0):
        assert who_to_ask() == "Ask admin to add credits."


def test_nobody_holds_it(required):
    assert who_to_ask() == "Ask your team's administrator to add credits."


def test_the_contact_setting_overrides_the_names_without_a_query(
    required, django_user_model, django_assert_num_queries
):
    django_user_model.objects.create_superuser("admin", "a@example.com", "pw")
    required.CREDITS = {**required.CREDITS, "TOPUP_CONTACT": "Ask Ada or Grace."}
    with django_assert_num_queries(0):
        assert who_to_ask() == "Ask Ada or Grace."


def test_the_api_says_the_contact(sandbox, required, api):
    required.CREDITS = {**required.CREDITS, "TOPUP_CONTACT": "Write to billing@example.com."}
    assert api.topup({"amountCents": 1000}).json()["error"] == (
        "You may not add credits on this site. Write to billing@example.com."
    )


# --- the header menu and the inline widget --------------------------------------------------


def test_a_user_who_may_not_sees_the_balance_and_who_to_ask_and_no_amounts(required, user, django_user_model):
    django_user_model.objects.create_user("grace", "g@example.com", "pw").user_permissions.add(top_up_permission())
    html = render(user)
    assert html.count('<p class="credits-ask" data-credits-ask>Ask grace to add credits.</p>') == 3
    for label in AMOUNTS:
        assert f">{label}</button>" not in html
    assert "Custom amount" not in html
    assert 'name="amount"' not in html
    assert "data-credits-form" not in html
    # What stays: the names of the button, the menu and the region, the balance, the live regions.
    assert ">+ credits</button>" in html
    assert ">Add credits</p>" in html  # the group's label (not a heading: the page's h1 comes first)
    assert html.count(">Credits exhausted</h3>") == 2
    assert html.count("data-credits-amount") == 3
    assert html.count('role="status"') == 3
    assert html.count('role="alert"') == 3
    assert "Add credits, then press Continue" not in html
    assert html.count("The team's credits have run out.") == 2
    ids = re.findall(r'\sid="([^"]+)"', html)
    for target in re.findall(r'(?:aria-controls|aria-labelledby|aria-describedby|for)="([^"]+)"', html):
        assert target in ids


def test_a_user_who_may_sees_the_amounts(required, user):
    html = render(grant(user))
    for label in AMOUNTS:
        assert html.count(f">{label}</button>") == 3
    assert html.count(">Custom amount</label>") == 3
    assert "credits-ask" not in html
    assert "Add credits, then press Continue" in html


def test_unset_rendering_asks_no_permission(user, django_assert_num_queries):
    with django_assert_num_queries(1 + 2):  # the user's top-up in flight, the header's forecast (two), nothing else
        html = render(user)
    assert html.count(">$10</button>") == 3
    assert "credits-ask" not in html


def test_set_rendering_asks_once_per_page(required, user, django_user_model, django_assert_num_queries):
    """has_perm: the user's and the groups' permissions, cached on the user for the request;
    who to ask: one query, cached. A superuser costs nothing. Each page also asks once for the
    user's top-up in flight and once for the header's forecast."""
    with django_assert_num_queries(3 + 3):
        render(user)
    holder = grant(user)
    with django_assert_num_queries(2 + 3):
        render(holder)
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    with django_assert_num_queries(0 + 3):
        render(admin)


def test_without_a_request_and_a_permission_set_it_shows_who_to_ask(required):
    html = Template("{% load credits %}{% credits_button %}").render(Context({}))
    assert ">+ credits</button>" in html
    assert "credits-ask" in html


# --- system checks ---------------------------------------------------------------------------


def test_unset_and_well_formed_names_pass(settings):
    settings.CREDITS = {}
    assert check_topup_permission() == []
    assert check_topup_permission_exists(databases=["default"]) == []
    settings.CREDITS = {"TOPUP_PERMISSION": "credits.top_up"}
    assert check_topup_permission() == []


@pytest.mark.parametrize("name", ["top_up", "credits.", ".top_up", "credits.top.up", 3])
def test_a_name_not_app_label_dot_codename_is_reported(settings, name):
    settings.CREDITS = {"TOPUP_PERMISSION": name}
    assert check_topup_permission() == [
        Warning(
            f"CREDITS['TOPUP_PERMISSION'] ({name!r}) is not a permission name of the form "
            "'app_label.codename', so only superusers may add credits.",
            hint="Use a permission such as 'credits.top_up' (reef_site reads it from CREDITS_TOPUP_PERMISSION), "
            "or leave it unset to let every logged-in user add credits.",
            id="credits.W004",
        )
    ]
    assert check_topup_permission_exists(databases=["default"]) == []  # said once, by the format check


def test_a_permission_that_does_not_exist_is_reported_with_the_database_checks(settings):
    settings.CREDITS = {"TOPUP_PERMISSION": "credits.top_upp"}
    expected = [
        Warning(
            "CREDITS['TOPUP_PERMISSION'] names the permission 'credits.top_upp', which does not exist, "
            "so only superusers may add credits.",
            hint="Check the spelling (the app defines 'credits.top_up'), or create the permission.",
            id="credits.W005",
        )
    ]
    assert check_topup_permission_exists(databases=["default"]) == expected
    assert check_topup_permission_exists() == []  # without --database, no query


def test_declared_permissions_pass_without_a_query_and_made_ones_with_one(settings, django_assert_num_queries):
    settings.CREDITS = {"TOPUP_PERMISSION": "credits.top_up"}
    with django_assert_num_queries(0):
        assert check_topup_permission_exists(databases=["default"]) == []
    settings.CREDITS = {"TOPUP_PERMISSION": "auth.view_user"}  # a default permission of an installed model
    with django_assert_num_queries(0):
        assert check_topup_permission_exists(databases=["default"]) == []
    Permission.objects.create(
        codename="approve_spend", name="Can approve spending", content_type=top_up_permission().content_type
    )
    settings.CREDITS = {"TOPUP_PERMISSION": "credits.approve_spend"}
    with django_assert_num_queries(1):
        assert check_topup_permission_exists(databases=["default"]) == []
