"""Log-in by single-use link: the bearer-token endpoint, the link itself, and the commands.

(tests/test_login_hardening.py: staff refused, previews, throttling, nothing secret in logs.)
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from reef_site.magic import create_link, is_server_token
from reef_site.models import MagicLink

pytestmark = pytest.mark.django_db


SERVER = object()  # stands for the site's own token


def ask(client, settings, body=None, token=SERVER, **extra):
    token = settings.TEST_TOKEN if token is SERVER else token
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    data = body if isinstance(body, str | bytes) else json.dumps(body if body is not None else {"username": "ada"})
    return client.post("/auth/magic-link", data=data, content_type="application/json", **headers, **extra)


def path_of(url):
    return url.removeprefix("http://testserver")


def press_log_in(client, path):
    """Open the link's page as a browser does and press its "Log in" button (a form POST)."""
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    html = page.content.decode()
    form = re.search(r'<form method="post" action="([^"]+)"', html)
    assert form and ">Log in</button>" in html
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    assert set(fields) == {"csrfmiddlewaretoken", "secret"}
    return client.post(form.group(1), fields)


def test_a_server_with_the_token_gets_a_link_that_logs_in_once(client, settings, user):
    before = timezone.now()
    response = ask(client, settings)
    assert response.status_code == 200
    body = response.json()
    assert body["url"].startswith("http://testserver/auth/magic-link/")
    expires = parse_datetime(body["expiresAt"])
    assert body["expiresAt"].endswith("Z")
    assert timedelta(minutes=9) < expires - before <= timedelta(minutes=10, seconds=5)

    page = client.get(path_of(body["url"]))  # opening the link: a page with a button, nobody logged in
    assert page.status_code == 200 and "_auth_user_id" not in client.session
    assert page["Referrer-Policy"] == "same-origin" and "no-store" in page["Cache-Control"]
    assert '<meta name="referrer" content="same-origin">' in page.content.decode()

    login = press_log_in(client, path_of(body["url"]))
    assert login.status_code == 302 and login["Location"] == "/ui/"
    assert login["Referrer-Policy"] == "same-origin" and "no-store" in login["Cache-Control"]
    assert client.get("/ui/").status_code == 200  # logged in
    assert int(client.session["_auth_user_id"]) == user.pk

    client.logout()
    again = client.get(path_of(body["url"]))
    assert again.status_code == 400 and "cannot be used" in again.content.decode()
    assert "_auth_user_id" not in client.session


def test_only_a_hash_of_the_secret_is_stored(user):
    path, _ = create_link(user)
    secret = path.rsplit("/", 1)[1]
    link = MagicLink.objects.get()
    assert link.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in link.secret_hash


def test_an_expired_link_does_not_log_in(client, user):
    path, _ = create_link(user)
    MagicLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(path)
    assert response.status_code == 400 and "cannot be used" in response.content.decode()
    assert client.post("/auth/log-in-by-link", {"secret": path.rsplit("/", 1)[1]}).status_code == 400
    assert "_auth_user_id" not in client.session


def test_links_expire_after_the_configured_time(user, settings):
    settings.MAGIC_LINKS = {"SECONDS": 60}
    _, expires = create_link(user)
    assert timedelta(seconds=55) < expires - timezone.now() <= timedelta(seconds=60)


def test_an_unknown_or_mangled_link_does_not_log_in(client, user):
    path, _ = create_link(user)
    assert client.get(path + "x").status_code == 400
    assert client.get("/auth/magic-link/nothing-here").status_code == 400
    assert client.post("/auth/log-in-by-link", {"secret": path.rsplit("/", 1)[1] + "x"}).status_code == 400
    assert client.post("/auth/log-in-by-link", {}).status_code == 400
    assert "_auth_user_id" not in client.session
    assert press_log_in(client, path).status_code == 302  # the real one still works


def test_an_inactive_user_cannot_use_a_link(client, user):
    path, _ = create_link(user)
    user.is_active = False
    user.save()
    assert client.get(path).status_code == 400
    assert client.post("/auth/log-in-by-link", {"secret": path.rsplit("/", 1)[1]}).status_code == 400
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_AUTHORIZATION": "Bearer wrong-token"},
        {"HTTP_AUTHORIZATION": "Bearer "},
        {"HTTP_AUTHORIZATION": "Basic YWRhOnB3"},
    ],
)
def test_a_wrong_or_missing_token_is_a_json_401(client, settings, user, headers):
    response = client.post("/auth/magic-link", data={"username": "ada"}, content_type="application/json", **headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized" and response["WWW-Authenticate"] == "Bearer"
    assert not MagicLink.objects.exists()


def test_the_token_is_refused_when_the_site_has_none(client, settings, user):
    token = settings.TEST_TOKEN
    settings.CREDITS = {**settings.CREDITS, "AUTH_TOKEN": None}
    assert ask(client, settings, token=token).status_code == 401


def test_the_token_is_the_server_token_and_the_link_needs_no_cookie(settings, user):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert ask(strict, settings).status_code == 200  # server to server: no CSRF cookie


@pytest.mark.parametrize("body", ["", "not json", "[]", '{"username": 5}', '{"username": ""}', {"name": "ada"}])
def test_a_bad_body_is_a_json_400(client, settings, user, body):
    response = ask(client, settings, body)
    assert response.status_code == 400 and response.json()["code"] == "invalid_json"


def test_an_unknown_user_is_a_json_404(client, settings, user):
    response = ask(client, settings, {"username": "nobody"})
    assert response.status_code == 404 and response.json()["code"] == "unknown_user"


def test_get_is_not_allowed_on_the_endpoint(client, settings):
    response = client.get("/auth/magic-link", HTTP_AUTHORIZATION=f"Bearer {settings.TEST_TOKEN}")
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"


def test_used_and_expired_links_are_cleared_when_a_new_one_is_made(client, user):
    path, _ = create_link(user)
    press_log_in(client, path)
    create_link(user)
    MagicLink.objects.filter(used_at__isnull=True).update(expires_at=timezone.now())
    create_link(user)
    assert MagicLink.objects.count() == 1


def test_a_new_link_ends_the_users_older_unused_ones(client, settings, user, other_user):
    first, _ = create_link(user)
    bobs, _ = create_link(other_user)
    second = path_of(ask(client, settings).json()["url"])  # the bearer endpoint makes one too
    assert client.get(first).status_code == 400  # ended by the second
    out = io.StringIO()
    call_command("magic_link", "ada", "--url", "http://testserver", stdout=out)  # and the command
    third = path_of(out.getvalue().strip())

    page = client.get(second)
    assert page.status_code == 400 and "cannot be used" in page.content.decode()
    assert 'href="/accounts/login/"' in page.content.decode()  # still known as ada's, who has a password
    assert client.post("/auth/log-in-by-link", {"secret": second.rsplit("/", 1)[1]}).status_code == 400
    assert "_auth_user_id" not in client.session
    assert MagicLink.objects.filter(user=user, used_at__isnull=True, expires_at__gt=timezone.now()).count() == 1

    assert press_log_in(client, third).status_code == 302  # the latest works
    assert int(client.session["_auth_user_id"]) == user.pk
    client.logout()
    assert press_log_in(client, bobs).status_code == 302  # another user's link is not touched
    assert int(client.session["_auth_user_id"]) == other_user.pk


def test_an_ended_link_is_ended_in_the_database_not_marked_used(user):
    first, _ = create_link(user)
    create_link(user)
    ended = MagicLink.objects.get(secret_hash=hashlib.sha256(first.rsplit("/", 1)[1].encode()).hexdigest())
    assert ended.used_at is None and ended.expires_at <= timezone.now()


def test_the_magic_link_command_prints_a_working_link(client, user):
    out = io.StringIO()
    call_command("magic_link", "ada", "--url", "http://testserver/", stdout=out)
    url = out.getvalue().strip()
    assert url.startswith("http://testserver/auth/magic-link/")
    assert press_log_in(client, path_of(url)).status_code == 302
    with pytest.raises(CommandError, match="nobody"):
        call_command("magic_link", "nobody")


def test_the_demo_user_has_no_usable_password_and_gets_a_link(client, django_user_model):
    out = io.StringIO()
    call_command("demo_user", "--url", "http://testserver", stdout=out)
    demo = django_user_model.objects.get(username="demo")
    assert not demo.has_usable_password()
    assert demo.is_active and not demo.is_staff and not demo.is_superuser  # links are not for staff
    assert demo.has_perm("credits.manage_auto_topup")  # the demo team's manager: auto top-up can be tried
    first_line = out.getvalue().splitlines()[0]
    assert "password" not in first_line and "single use, valid for 10 minutes" in first_line
    url = first_line.split(" at ", 1)[1].split(" ", 1)[0]
    assert press_log_in(client, path_of(url)).status_code == 302
    assert client.get("/ui/").status_code == 200
    client.logout()
    refused = client.post("/accounts/login/", {"username": "demo", "password": ""})
    assert refused.status_code == 200 and "_auth_user_id" not in client.session  # no password log-in
    call_command("demo_user", stdout=io.StringIO())  # again: still one demo user, still no password
    assert django_user_model.objects.filter(username="demo").count() == 1


def test_the_demo_user_command_makes_an_older_staff_demo_user_plain(django_user_model):
    django_user_model.objects.create_superuser("demo", "demo@example.com", "pw-demo-123")
    call_command("demo_user", "--url", "http://testserver", stdout=io.StringIO())
    demo = django_user_model.objects.get(username="demo")
    assert not demo.is_staff and not demo.is_superuser and not demo.has_usable_password()


def test_a_body_over_4_kib_is_refused(client, settings, user):
    response = ask(client, settings, {"username": "ada", "pad": "x" * 5000})
    assert response.status_code == 400 and not MagicLink.objects.exists()


def test_the_admin_lists_links_without_their_secret(client, django_user_model, user):
    create_link(user)
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
    client.force_login(admin)
    link = MagicLink.objects.get()
    assert str(link).startswith("ada until ")
    page = client.get("/admin/reef_site/magiclink/").content.decode()
    assert "ada" in page and link.secret_hash not in page
    detail = client.get(f"/admin/reef_site/magiclink/{link.pk}/change/")
    assert detail.status_code == 200 and link.secret_hash not in detail.content.decode()
    assert client.get("/admin/reef_site/magiclink/add/").status_code == 403


# --- the pages a newcomer meets: the log-in page, a used or expired link -----------------------


def _spent_link_page(client, user):
    path, _ = create_link(user)
    press_log_in(client, path)
    client.logout()
    page = client.get(path)
    assert page.status_code == 400
    return page.content.decode()


def test_a_used_link_of_a_link_only_user_names_make_link_and_offers_no_password(client, django_user_model):
    link_only = django_user_model.objects.create_user("grace")  # no password, as the demo user
    html = _spent_link_page(client, link_only)
    assert "cannot be used" in html
    assert "<code>make link</code>" in html and "ask the person who runs it" in html
    assert "password" not in html.lower()
    assert 'type="password"' not in html


def test_a_used_link_of_a_user_with_a_password_offers_the_password_form(client, user):
    html = _spent_link_page(client, user)
    assert "<code>make link</code>" in html
    assert 'href="/accounts/login/"' in html and "log in with your password" in html


def test_a_mistyped_link_names_nobody_and_offers_no_password(client):
    html = client.get("/auth/magic-link/not-a-real-secret").content.decode()
    assert "<code>make link</code>" in html and "password" not in html.lower()


def test_a_spent_link_pressed_again_says_the_same(client, django_user_model):
    link_only = django_user_model.objects.create_user("grace")
    path, _ = create_link(link_only)
    secret = path.rstrip("/").rsplit("/", 1)[1]
    client.post("/auth/log-in-by-link", {"secret": secret})
    client.logout()
    again = client.post("/auth/log-in-by-link", {"secret": secret})
    html = again.content.decode()
    assert again.status_code == 400 and "<code>make link</code>" in html and "password" not in html.lower()


def test_a_logged_in_user_opening_a_used_link_is_sent_on_to_the_chat(client, user):
    path, _ = create_link(user)
    press_log_in(client, path)
    html = client.get(path).content.decode()
    assert "You are logged in as ada already" in html and 'href="/ui/"' in html


def test_the_link_pages_say_how_long_links_last(client, settings, user):
    settings.MAGIC_LINKS = {**settings.MAGIC_LINKS, "SECONDS": 120}
    path, _ = create_link(user)
    assert "works once and for 2 minutes" in client.get(path).content.decode()
    assert "work once and for 2 minutes" in client.get("/auth/magic-link/nope").content.decode()


def test_the_login_page_says_most_people_log_in_by_link(client):
    html = client.get("/accounts/login/").content.decode()
    assert "single-use link from whoever runs this site" in html
    assert "<code>make link</code>" in html and "accounts that have a password" in html
    assert 'type="password"' in html


def test_the_demo_user_command_prints_the_way_back_in_it_is_given(django_user_model):
    out = io.StringIO()
    call_command("demo_user", "--url", "http://testserver", "--another", "make link", stdout=out)
    assert "Another link, once this one is used or expired: make link\n" in out.getvalue()
    plain = io.StringIO()
    call_command("demo_user", "--url", "http://127.0.0.1:8001/", stdout=plain)
    assert "python manage.py magic_link demo --url http://127.0.0.1:8001\n" in plain.getvalue()


def test_is_server_token(settings):
    token = settings.CREDITS["AUTH_TOKEN"]
    assert is_server_token(token)
    assert not is_server_token(token + "x")
    assert not is_server_token("")
    assert not is_server_token(None)
    settings.CREDITS = {**settings.CREDITS, "AUTH_TOKEN": None}
    assert not is_server_token("")
    assert not is_server_token(None)
