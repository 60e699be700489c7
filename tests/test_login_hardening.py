"""Log-in that cannot be abused: links only for plain users, a preview that spends nothing,
failed log-ins and bearer tokens throttled by django-axes, and no secret in any log line."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import timedelta

import httpx
import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from reef_site.logfilters import RedactSecrets
from reef_site.magic import BEARER_CALLER, LINK_CALLER, LINK_PREFIX, create_link, lockout_parameters
from reef_site.models import MagicLink
from tests.processes import start_site
from tests.test_chat_magic import ask, path_of, press_log_in

pytestmark = pytest.mark.django_db

LIMIT = 5  # settings.AXES_FAILURE_LIMIT
COOL_OFF_SECONDS = 15 * 60  # settings.AXES_COOLOFF_TIME
PASSWORD = "pw-ada-123"  # the user fixture's
LOGGERS = ("", "django", "django.request", "axes", "chat", "credits", "reef_site", "reef_site.magic")


def secret_of(path):
    return path.rsplit("/", 1)[1]


def logged_in(client):
    return "_auth_user_id" in client.session


# --- who may have a link ---------------------------------------------------------------------

ROLES = {
    "staff": {"is_staff": True},
    "superuser": {"is_staff": True, "is_superuser": True},
    "superuser only": {"is_superuser": True},
    "inactive": {"is_active": False},
}


@pytest.mark.parametrize("role", ROLES)
def test_staff_superusers_and_inactive_users_get_no_link_and_the_answer_of_an_unknown_user(
    client, settings, django_user_model, caplog, role
):
    django_user_model.objects.create_user("root", password="pw-root-123", **ROLES[role])
    unknown = ask(client, settings, {"username": "nobody"})
    with caplog.at_level(logging.INFO, logger="reef_site.magic"):
        refused = ask(client, settings, {"username": "root"})
    assert (refused.status_code, refused.json()) == (unknown.status_code, unknown.json())  # nothing to tell them apart
    assert refused.json()["code"] == "unknown_user"
    assert not MagicLink.objects.exists()
    reason = "inactive" if role == "inactive" else "staff and superusers log in with a password"
    assert "no link for 'root'" in caplog.text and reason in caplog.text  # the log says why


@pytest.mark.parametrize("role", ROLES)
def test_the_magic_link_command_refuses_them_with_a_clear_message(django_user_model, role):
    django_user_model.objects.create_user("root", password="pw-root-123", **ROLES[role])
    expected = "no active user" if role == "inactive" else "staff and superusers log in with a password"
    with pytest.raises(CommandError, match=expected):
        call_command("magic_link", "root", stdout=io.StringIO())
    assert not MagicLink.objects.exists()


def test_a_link_cannot_be_made_for_staff_in_code_either(django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
    with pytest.raises(ValueError, match="staff and superusers"):
        create_link(admin)


def test_a_link_made_before_its_user_became_staff_does_not_log_in(client, user):
    path, _ = create_link(user)
    user.is_staff = True
    user.save()
    assert client.get(path).status_code == 400
    assert client.post("/auth/log-in-by-link", {"secret": secret_of(path)}).status_code == 400
    assert not logged_in(client)


def test_a_setting_lets_staff_have_links(client, settings, django_user_model):
    settings.MAGIC_LINKS = {**settings.MAGIC_LINKS, "FOR_STAFF": True}
    staff = django_user_model.objects.create_user("root", password="pw-root-123", is_staff=True)
    response = ask(client, settings, {"username": "root"})
    assert response.status_code == 200
    assert press_log_in(client, path_of(response.json()["url"])).status_code == 302
    assert int(client.session["_auth_user_id"]) == staff.pk


def test_staff_links_are_off_by_default():
    from reef_site.conf import MagicLinkSettings

    assert MagicLinkSettings().FOR_STAFF is False


# --- the preview spends nothing; the button logs in, once ------------------------------------


def test_opening_a_link_logs_nobody_in_and_spends_nothing_then_the_button_logs_in(client, user):
    path, _ = create_link(user)
    preview = Client()  # a chat app's link preview: no cookies, fetches the page (and HEAD) itself
    for _ in range(3):
        page = preview.get(path)
        assert page.status_code == 200 and "no-store" in page["Cache-Control"]
        assert '<meta name="referrer" content="same-origin">' in page.content.decode()
    assert preview.head(path).status_code == 200
    assert not logged_in(preview)
    assert MagicLink.objects.get().used_at is None  # not spent

    page = client.get(path)  # the person opens it: still nobody logged in
    assert page.status_code == 200 and not logged_in(client)
    assert MagicLink.objects.get().used_at is None

    login = press_log_in(client, path)
    assert login.status_code == 302 and login["Location"] == "/ui/"
    assert int(client.session["_auth_user_id"]) == user.pk
    assert MagicLink.objects.get().used_at is not None


def test_a_used_link_cannot_be_used_again(client, user):
    path, _ = create_link(user)
    assert press_log_in(client, path).status_code == 302
    other = Client()
    assert other.get(path).status_code == 400  # its page is the "cannot be used" one now
    again = other.post("/auth/log-in-by-link", {"secret": secret_of(path)})
    assert again.status_code == 400 and "cannot be used" in again.content.decode()
    assert not logged_in(other)


def test_the_button_needs_the_pages_csrf_token_and_a_post(user):
    path, _ = create_link(user)
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/auth/log-in-by-link", {"secret": secret_of(path)}).status_code == 403  # no token
    assert strict.get("/auth/log-in-by-link").status_code == 405
    assert MagicLink.objects.get().used_at is None
    assert press_log_in(strict, path).status_code == 302  # with the page's token


def test_the_secret_is_posted_in_the_body_not_in_the_address(client, user):
    path, _ = create_link(user)
    html = client.get(path).content.decode()
    assert 'action="/auth/log-in-by-link"' in html  # the POST's request line carries no secret
    press_log_in(client, path)
    paths = list(AccessLog.objects.values_list("path_info", flat=True))  # axes' record of the log-in
    assert paths == ["/auth/log-in-by-link"]


# --- throttling: password log-ins ------------------------------------------------------------


def fail_password(client, times, username="ada", **extra):
    return [
        client.post("/accounts/login/", {"username": username, "password": "wrong-pw"}, **extra) for _ in range(times)
    ]


def test_repeated_failed_password_log_ins_lock_the_username_at_that_address_out(client, user, caplog):
    with caplog.at_level(logging.WARNING, logger="axes"):
        answers = fail_password(client, LIMIT)
    assert [a.status_code for a in answers] == [200] * (LIMIT - 1) + [429]
    assert "Locking out" in caplog.text  # logged by axes

    locked = client.post("/accounts/login/", {"username": "ada", "password": PASSWORD})  # the right one
    assert locked.status_code == 429 and not logged_in(client)
    assert COOL_OFF_SECONDS - 2 <= int(locked["Retry-After"]) <= COOL_OFF_SECONDS
    text = locked.content.decode()
    assert "Too many failed log-ins for this username from your address. Try again in 15 minutes." in text
    assert 'name="password"' not in text  # the page says why instead of offering the form

    elsewhere = Client(REMOTE_ADDR="10.0.0.7")  # the same user from another address is not locked out
    assert elsewhere.post("/accounts/login/", {"username": "ada", "password": PASSWORD}).status_code == 302
    other_user = client.post("/accounts/login/", {"username": "bob", "password": "x"})  # nor another username
    assert other_user.status_code == 200


def test_the_lockout_ends_after_the_cool_off(client, user):
    fail_password(client, LIMIT)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(seconds=COOL_OFF_SECONDS + 1))
    assert client.post("/accounts/login/", {"username": "ada", "password": PASSWORD}).status_code == 302


def test_a_successful_log_in_resets_the_count(client, user):
    fail_password(client, LIMIT - 1)
    assert client.post("/accounts/login/", {"username": "ada", "password": PASSWORD}).status_code == 302
    client.logout()
    assert [a.status_code for a in fail_password(client, LIMIT - 1)] == [200] * (LIMIT - 1)  # counted from zero


def test_the_admin_log_in_is_throttled_too(client, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
    for _ in range(LIMIT):
        client.post("/admin/login/", {"username": "root", "password": "wrong-pw"})
    assert client.post("/admin/login/", {"username": "root", "password": "pw-root-123"}).status_code == 429
    assert not logged_in(client)


# --- throttling: bearer tokens on /auth/magic-link --------------------------------------------


def test_repeated_wrong_bearer_tokens_are_answered_429_and_logged(client, settings, user, caplog):
    with caplog.at_level(logging.WARNING):
        answers = [ask(client, settings, token=f"wrong-{n}") for n in range(LIMIT)]
    assert [a.status_code for a in answers] == [401] * (LIMIT - 1) + [429]
    assert "magic link: a wrong bearer token from 127.0.0.1" in caplog.text
    assert "Locking out" in caplog.text

    locked = ask(client, settings)  # the right token, from the locked-out address
    assert locked.status_code == 429 and locked["Content-Type"] == "application/json"
    assert set(locked.json()) == {"error", "code"} and locked.json()["code"] == "rate_limited"
    assert COOL_OFF_SECONDS - 2 <= int(locked["Retry-After"]) <= COOL_OFF_SECONDS
    assert not MagicLink.objects.exists()

    assert ask(client, settings, REMOTE_ADDR="10.0.0.7").status_code == 200  # another address is not locked out


def test_missing_tokens_count_too(client, settings, user):
    answers = [ask(client, settings, token=None) for _ in range(LIMIT)]
    assert answers[-1].status_code == 429 and answers[-1].json()["code"] == "rate_limited"


def test_bearer_failures_and_password_failures_are_counted_apart(client, settings, user):
    for n in range(LIMIT):
        ask(client, settings, token=f"wrong-{n}")
    assert client.post("/accounts/login/", {"username": "ada", "password": PASSWORD}).status_code == 302
    client.logout()
    fail_password(client, LIMIT)
    assert ask(client, settings, REMOTE_ADDR="10.0.0.8").status_code == 200
    assert set(AccessAttempt.objects.values_list("username", flat=True)) == {"ada", BEARER_CALLER}


def test_a_right_token_resets_the_count(client, settings, user):
    for n in range(LIMIT - 1):
        ask(client, settings, token=f"wrong-{n}")
    assert ask(client, settings).status_code == 200
    assert [ask(client, settings, token=f"again-{n}").status_code for n in range(LIMIT - 1)] == [401] * (LIMIT - 1)


# --- throttling: log-in links that cannot log in ---------------------------------------------


def bad_secret(n=0):
    return f"not-a-real-secret-{n}-{'x' * 30}"


def press(client, secret, **extra):
    """The "Log in" button's POST with ``secret`` (as press_log_in sends it, without opening the page first)."""
    return client.post("/auth/log-in-by-link", {"secret": secret}, **extra)


def throttled_page(response):
    """The 429 page of a link, as the answer's parts a client could compare."""
    assert response.status_code == 429, response.status_code
    assert "no-store" in response["Cache-Control"] and response["Referrer-Policy"] == "same-origin"
    return re.sub(rb' nonce="[^"]*"', b"", response.content), response["Retry-After"]  # each answer has its CSP nonce


def test_links_that_cannot_log_in_lock_the_address_out_and_then_nothing_is_spent_or_revealed(client, user, caplog):
    good, _ = create_link(user)
    with caplog.at_level(logging.WARNING):
        answers = [press(client, bad_secret(n)) for n in range(LIMIT)]
    assert [a.status_code for a in answers] == [400] * (LIMIT - 1) + [429]
    assert "Locking out" in caplog.text
    page = answers[-1].content.decode()
    assert "Too many log-in links that could not be used were tried from your address" in page
    assert "Try again in 15 minutes." in page and "<code>make link</code>" in page
    assert COOL_OFF_SECONDS - 2 <= int(answers[-1]["Retry-After"]) <= COOL_OFF_SECONDS

    # From that address now: the good link and a bad one get the same answer, and the good one is not spent.
    with caplog.at_level(logging.WARNING, logger="reef_site.magic"):
        good_open, bad_open = client.get(good), client.get(f"/auth/magic-link/{bad_secret(99)}")
        good_press, bad_press = press(client, secret_of(good)), press(client, bad_secret(99))
    assert (
        throttled_page(good_open) == throttled_page(bad_open) == throttled_page(good_press) == throttled_page(bad_press)
    )
    assert "after too many that could not log in" in caplog.text
    assert not logged_in(client) and MagicLink.objects.get().used_at is None

    elsewhere = Client(REMOTE_ADDR="10.0.0.7")  # another address is not locked out
    assert press_log_in(elsewhere, good).status_code == 302 and logged_in(elsewhere)


def test_opening_links_that_cannot_log_in_counts_too(client, user):
    answers = [client.get(f"/auth/magic-link/{bad_secret(n)}") for n in range(LIMIT)]
    assert [a.status_code for a in answers] == [400] * (LIMIT - 1) + [429]
    good, _ = create_link(user)
    throttled_page(client.get(good))
    assert MagicLink.objects.get().used_at is None


def test_a_link_tried_from_many_addresses_is_locked_out_everywhere_but_other_links_are_not(user):
    spent, _ = create_link(user)
    assert press_log_in(Client(), spent).status_code == 302
    answers = [press(Client(REMOTE_ADDR=f"10.0.1.{n}"), secret_of(spent)) for n in range(LIMIT)]
    assert [a.status_code for a in answers] == [400] * (LIMIT - 1) + [429]
    stranger = Client(REMOTE_ADDR="10.0.2.1")  # a new address, with that link: locked out
    throttled_page(stranger.get(spent))
    throttled_page(press(stranger, secret_of(spent)))
    fresh, _ = create_link(user)  # the same address, with another link: not locked out
    assert press_log_in(stranger, fresh).status_code == 302


def test_a_link_that_logs_in_resets_the_address_count(client, user):
    for n in range(LIMIT - 1):
        press(client, bad_secret(n))
    path, _ = create_link(user)
    assert press_log_in(client, path).status_code == 302
    client.logout()
    assert [press(client, bad_secret(n)).status_code for n in range(LIMIT - 1)] == [400] * (LIMIT - 1)


def test_link_failures_and_password_failures_are_counted_apart(client, user):
    for n in range(LIMIT):
        press(client, bad_secret(n))
    assert client.post("/accounts/login/", {"username": "ada", "password": PASSWORD}).status_code == 302
    client.logout()
    fail_password(client, LIMIT)
    path, _ = create_link(user)
    assert press_log_in(Client(REMOTE_ADDR="10.0.0.8"), path).status_code == 302
    assert set(AccessAttempt.objects.values_list("username", flat=True)) >= {"ada", LINK_CALLER}


def test_no_link_secret_reaches_axes_tables(client, user):
    spent, _ = create_link(user)
    press_log_in(client, spent)
    client.logout()
    secrets = [secret_of(spent), bad_secret(1), bad_secret(2)]
    press(client, secrets[0])
    client.get(spent)
    press(client, secrets[2])
    client.get(f"/auth/magic-link/{secrets[1]}")
    rows = [list(model.objects.values()) for model in (AccessAttempt, AccessFailureLog, AccessLog)]
    stored = json.dumps(rows, default=str)
    assert LINK_CALLER in stored and LINK_PREFIX in stored and "secret=****" in stored
    assert "/auth/magic-link/[redacted]" in stored  # the path of the last page opened, without its secret
    for secret in secrets:
        assert secret not in stored


@pytest.mark.parametrize(
    ("username", "parameters"),
    [
        ("ada", [["username", "ip_address"]]),
        (BEARER_CALLER, [["username", "ip_address"]]),
        (LINK_CALLER, [["username", "ip_address"]]),
        (f"{LINK_PREFIX}0123456789abcdef]", ["username"]),
        (None, [["username", "ip_address"]]),
    ],
)
def test_what_axes_counts_failures_by(rf, username, parameters):
    assert lockout_parameters(rf.post("/accounts/login/"), {"username": username}) == parameters
    assert lockout_parameters(AccessAttempt(username=username)) == parameters  # as axes asks with a record


# --- Retry-After is the time that remains ---------------------------------------------------------


def age_failures(seconds):
    """Every recorded failure, ``seconds`` older (as if that much time had passed)."""
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(seconds=seconds))


def assert_remains(response, seconds):
    assert response.status_code == 429, response.status_code
    assert abs(int(response["Retry-After"]) - seconds) <= 1, (response["Retry-After"], seconds)


def test_a_password_lockout_answers_the_seconds_that_remain_and_a_try_does_not_restart_it(client, user):
    fail_password(client, LIMIT)
    age_failures(100)
    locked = client.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
    assert_remains(locked, COOL_OFF_SECONDS - 100)
    assert "Try again in 14 minutes." in locked.content.decode()  # 800 s, rounded up
    age_failures(COOL_OFF_SECONDS - 30)  # the tries during the lockout did not restart it
    again = client.post("/accounts/login/", {"username": "ada", "password": "wrong-pw"})
    assert_remains(again, 30)
    assert "Try again in 1 minute." in again.content.decode()
    age_failures(COOL_OFF_SECONDS + 1)
    assert client.post("/accounts/login/", {"username": "ada", "password": PASSWORD}).status_code == 302


def test_a_bearer_lockout_answers_the_seconds_that_remain(client, settings, user):
    for n in range(LIMIT):
        ask(client, settings, token=f"wrong-{n}")
    age_failures(250)
    locked = ask(client, settings)
    assert_remains(locked, COOL_OFF_SECONDS - 250)
    assert locked.json()["code"] == "rate_limited"


def test_a_link_lockout_answers_the_seconds_that_remain(client, user):
    for n in range(LIMIT):
        press(client, bad_secret(n))
    age_failures(600)
    path, _ = create_link(user)
    locked = client.get(path)
    assert_remains(locked, COOL_OFF_SECONDS - 600)
    assert "Try again in 5 minutes." in locked.content.decode()
    assert_remains(press(client, secret_of(path)), COOL_OFF_SECONDS - 600)


def test_the_remaining_time_is_that_of_the_newest_failures_that_reach_the_limit(client, user):
    """Failures from two browsers (two records) at different times: the lockout lasts while the
    newest ones that add up to the limit are within the cool-off."""
    fail_password(client, 3, HTTP_USER_AGENT="browser one")
    fail_password(client, LIMIT - 3, HTTP_USER_AGENT="browser two")  # the limit: locked out
    now = timezone.now()
    AccessAttempt.objects.filter(user_agent="browser one").update(attempt_time=now - timedelta(seconds=600))
    AccessAttempt.objects.filter(user_agent="browser two").update(attempt_time=now - timedelta(seconds=100))
    locked = client.post("/accounts/login/", {"username": "ada", "password": PASSWORD}, HTTP_USER_AGENT="browser two")
    assert_remains(locked, COOL_OFF_SECONDS - 600)  # browser one's failures end it, not browser two's
    AccessAttempt.objects.filter(user_agent="browser one").update(
        attempt_time=now - timedelta(seconds=COOL_OFF_SECONDS + 1)
    )
    assert client.post("/accounts/login/", {"username": "ada", "password": PASSWORD}).status_code == 302


# --- nothing secret in the logs ---------------------------------------------------------------


class Records(logging.Handler):
    """Every record it is handed, formatted (message and traceback)."""

    def __init__(self, *filters: logging.Filter) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        for f in filters:
            self.addFilter(f)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def debug_logs():
    """Every logger at DEBUG. ``raw``: the records of the log-in (reef_site) and axes as made, before any
    redaction; ``console``: everything as the site's console handler (with RedactSecrets) writes it."""
    raw, console = Records(), Records(RedactSecrets())
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    for name in ("reef_site", "axes"):
        logging.getLogger(name).addHandler(raw)
    logging.getLogger().addHandler(console)
    try:
        yield raw, console
    finally:
        logging.getLogger().removeHandler(console)
        for name in ("reef_site", "axes"):
            logging.getLogger(name).removeHandler(raw)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def test_nothing_secret_reaches_a_log_line_or_axes_tables(client, settings, user, debug_logs):
    """Every logger at DEBUG: no bearer token (right or wrong), no link secret, no password."""
    raw, console = debug_logs
    token = settings.TEST_TOKEN
    near_miss = token + "-x"  # a wrong token that contains the right one
    password = "hunter2-" + token[-8:]

    link = ask(client, settings).json()["url"]
    secret = secret_of(link)
    client.get(path_of(link))  # its page: the secret is in the template context
    press_log_in(client, path_of(link))
    client.get(path_of(link))  # spent: the 400 page, which django.request logs
    client.post("/auth/log-in-by-link", {"secret": secret})
    client.logout()
    for _ in range(LIMIT + 1):
        client.post("/accounts/login/", {"username": "ada", "password": password})
        ask(client, settings, token=near_miss)
    ask(client, settings)  # the right token on a locked-out address

    assert "Locking out" in raw.text and "bearer token" in raw.text and "logged in by link" in raw.text
    assert "Exception while resolving variable" in console.text  # the template engine's context dumps
    for secret_value in (token, near_miss, secret, password):
        assert secret_value not in raw.text
        assert secret_value not in console.text
    stored = json.dumps(
        [list(model.objects.values()) for model in (AccessAttempt, AccessLog, AccessFailureLog)], default=str
    )
    assert "ada" in stored and BEARER_CALLER in stored and LINK_CALLER in stored  # the spent link was counted
    for secret_value in (token, near_miss, secret, password):
        assert secret_value not in stored


@pytest.mark.django_db(transaction=True)
def test_the_production_servers_log_has_no_secret_and_its_access_lines_no_link_secret(settings, user, tmp_path):
    """The site under gunicorn (as in production, access log on, everything at DEBUG): the
    whole log-in flow and a lockout, then its output is searched for the secrets."""
    process, url = start_site(tmp_path / "site.log", LOG_LEVEL="DEBUG", ACCESS_LOG="on")
    token = settings.TEST_TOKEN
    password = "hunter2-" + token[-8:]
    try:
        with httpx.Client(base_url=url, timeout=10) as browser:
            made = browser.post(
                "/auth/magic-link", json={"username": "ada"}, headers={"Authorization": f"Bearer {token}"}
            )
            assert made.status_code == 200, made.text
            link = made.json()["url"]
            secret = secret_of(link)
            page = browser.get(link)
            assert page.status_code == 200
            csrf = browser.cookies["csrftoken"]
            login = browser.post("/auth/log-in-by-link", data={"secret": secret, "csrfmiddlewaretoken": csrf})
            assert login.status_code == 302 and login.headers["location"] == "/ui/"
            assert browser.get("/ui/").status_code == 200  # logged in
        with httpx.Client(base_url=url, timeout=10) as stranger:
            stranger.get("/accounts/login/")
            csrf = stranger.cookies["csrftoken"]
            for _ in range(LIMIT):
                stranger.post(
                    "/accounts/login/", data={"username": "ada", "password": password, "csrfmiddlewaretoken": csrf}
                )
            answers = [
                stranger.post(
                    "/auth/magic-link", json={"username": "ada"}, headers={"Authorization": f"Bearer {token}x"}
                )
                for _ in range(LIMIT)
            ]
            assert [a.status_code for a in answers] == [401] * (LIMIT - 1) + [429]  # through the async middleware
            assert answers[-1].json()["code"] == "rate_limited"
            assert 898 <= int(answers[-1].headers["retry-after"]) <= 900
            pressed = [
                stranger.post("/auth/log-in-by-link", data={"secret": bad_secret(n), "csrfmiddlewaretoken": csrf})
                for n in range(LIMIT)
            ]
            assert [a.status_code for a in pressed] == [400] * (LIMIT - 1) + [429]  # a link's lockout there too
            assert 898 <= int(pressed[-1].headers["retry-after"]) <= 900
            assert "Too many log-in links" in pressed[-1].text
    finally:
        process.stop()
    output = process.output()
    assert '"GET /auth/magic-link/[redacted] HTTP/1.1" 200' in output  # the access lines are there...
    assert '"POST /auth/log-in-by-link HTTP/1.1" 302' in output
    assert '"POST /auth/magic-link HTTP/1.1" 429' in output
    for secret_value in (token, secret, password):
        assert secret_value not in output  # ...and no secret in any line
