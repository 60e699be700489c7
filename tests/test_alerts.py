"""The warning before the credits run out (credits.alerts): the crossing, once; its end; the
notices by email (Django's outbox, a mail server that refuses) and by a signed webhook to a real
receiver on loopback (a 500 retried by a real db_worker, a receiver that hangs)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from credits import alerts
from credits.codes import Delivery, NoticeKind
from credits.forecast import Sample
from credits.models import AlertState, AutoTopup, BalanceSample, Notice, TopupAttempt
from credits.signals import attempt_flagged, auto_topup_disabled
from tests.processes import free_port, wait_for

pytestmark = pytest.mark.django_db

SECRET = "webhook-secret-for-tests"


def reading(remaining: float, spend: float = 100.0) -> dict[str, float]:
    return {"credits": spend + remaining, "spend": spend, "remaining": remaining}


def running_low_notices() -> list[Notice]:
    return list(Notice.objects.filter(kind=NoticeKind.RUNNING_LOW))


def queued_deliveries() -> int:
    return DBTaskResult.objects.filter(task_path="credits.alerts.deliver_notice").count()


# --- The lines ---------------------------------------------------------------------------------


def history(hours: float, per_hour: float, remaining_now: float) -> list[Sample]:
    """Readings every ten minutes for ``hours``, spending ``per_hour``, ending at ``remaining_now``."""
    now = timezone.now()
    steps = int(hours * 6)
    spend_now = 500.0
    return [
        Sample(
            at=now - timedelta(minutes=10 * (steps - i)),
            credits=spend_now + remaining_now,
            spend=spend_now - per_hour * (steps - i) / 6,
            remaining=remaining_now + per_hour * (steps - i) / 6,
        )
        for i in range(steps + 1)
    ]


def test_low_below_the_dollar_line_or_the_hours_line_and_clear_only_well_above_both(settings):
    conf = alerts.get_settings()  # LOW_BALANCE_DOLLARS 5, WARN_HOURS 6
    now = timezone.now()
    assert alerts.assess(4.99, [], now, conf).low
    assert not alerts.assess(5.0, [], now, conf).low
    assert not alerts.assess(6.0, [], now, conf).clear  # above the line, not clearly: the warning stays
    assert alerts.assess(6.25, [], now, conf).clear
    # $50 left at $10 an hour: 5 hours, under 6; $80: 8 hours, clearly over 7.5
    assert alerts.assess(50.0, history(3, 10.0, 50.0), now, conf).low
    at_70 = alerts.assess(70.0, history(3, 10.0, 70.0), now, conf)
    assert not at_70.low and not at_70.clear  # 7 hours: over the line, under 1.25 x 6
    assert alerts.assess(80.0, history(3, 10.0, 80.0), now, conf).clear


def test_the_warning_says_the_hours_or_the_dollars():
    now = timezone.now()
    by_rate = alerts.assess(20.0, history(3, 10.0, 20.0), now, alerts.get_settings())
    assert by_rate.warning == "Credits are running low: about 2 hours left at the current rate."
    assert alerts.assess(2.0, [], now, alerts.get_settings()).warning == "Credits are running low: $2.00 left."


# --- The crossing, once ------------------------------------------------------------------------


def test_one_notice_per_crossing_and_it_re_arms_only_clearly_above():
    t = timezone.now()
    alerts.observe(reading(4.0), t)
    alerts.observe(reading(3.0), t + timedelta(seconds=1))
    alerts.observe(reading(5.5), t + timedelta(seconds=2))  # above the line, not clearly: still low
    alerts.observe(reading(2.0), t + timedelta(seconds=3))
    assert len(running_low_notices()) == 1
    assert alerts.current_warning() == "Credits are running low: $2.00 left."

    alerts.observe(reading(30.0), t + timedelta(seconds=4))  # a top-up: clearly above
    assert alerts.current_warning() == ""
    alerts.observe(reading(4.5), t + timedelta(seconds=5))  # the next crossing
    notices = running_low_notices()
    assert len(notices) == 2
    assert notices[0].remaining == 4.5
    assert notices[0].text == "reef credits are running low: $4.50 left."


def test_a_reading_asked_for_before_the_last_change_changes_nothing():
    t = timezone.now()
    alerts.observe(reading(3.0), t)
    alerts.observe(reading(40.0), t + timedelta(seconds=10))  # the top-up's reading ends it
    alerts.observe(reading(3.0), t + timedelta(seconds=5))  # asked before that, answered after
    assert alerts.current_warning() == ""
    assert len(running_low_notices()) == 1


def test_the_crossing_writes_the_notice_and_queues_its_delivery_but_delivers_nothing(settings):
    settings.CREDITS = {**settings.CREDITS, "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook"}
    alerts.observe(reading(1.0), timezone.now())
    (notice,) = running_low_notices()
    assert (notice.email, notice.webhook, notice.tries) == (Delivery.PENDING, Delivery.PENDING, 0)
    assert queued_deliveries() == 1
    assert mail.outbox == []


def test_get_credits_carries_the_warning_while_it_lasts(sandbox, api):
    sandbox.state.configure(credits=3)
    body = api.balance().json()
    assert body["warning"] == "Credits are running low: $3.00 left."
    assert len(running_low_notices()) == 1

    sandbox.state.configure(credits=50)
    from django.core.cache import cache

    cache.clear()
    assert "warning" not in api.balance().json()
    assert AlertState.objects.get().low is False


# --- Email -------------------------------------------------------------------------------------


@pytest.fixture
def people(django_user_model: Any) -> None:
    django_user_model.objects.create_user("grace", "grace@example.com", "pw", is_staff=True)
    django_user_model.objects.create_user("nomail", "", "pw", is_staff=True)  # no address: not told
    django_user_model.objects.create_user("bob", "bob@example.com", "pw")  # may not manage: not told


def test_the_email_goes_to_the_list_and_the_staff_with_a_link_in_text_and_html(settings, people):
    settings.CREDITS = {
        **settings.CREDITS,
        "ALERT_EMAILS": ("ops@example.com", "GRACE@example.com"),
        "SITE_URL": "https://reef.example.com/",
    }
    notice = alerts.notify(NoticeKind.RUNNING_LOW, "reef credits are running low: $2.00 left.", remaining=2.0)
    alerts.deliver(str(notice.pk))

    (message,) = mail.outbox
    assert message.subject == "reef credits are running low: $2.00 left."
    assert sorted(a.lower() for a in message.to) == ["grace@example.com", "ops@example.com"]
    link = "https://reef.example.com/ui/credits/"
    assert link in message.body and "Remaining: $2.00" in message.body
    html, kind = message.alternatives[0]
    assert kind == "text/html" and f'href="{link}"' in html
    notice.refresh_from_db()
    assert (notice.email, notice.email_detail, notice.due_at) == (Delivery.DELIVERED, "Sent to 2 address(es).", None)


def test_with_a_permission_required_its_holders_are_told(settings, django_user_model, people):
    from django.contrib.auth.models import Permission

    settings.CREDITS = {**settings.CREDITS, "TOPUP_PERMISSION": "credits.top_up"}
    holder = django_user_model.objects.create_user("ada", "ada@example.com", "pw")
    holder.user_permissions.add(Permission.objects.get(codename="top_up"))
    assert alerts.recipients() == ["ada@example.com"]


def test_a_mail_server_that_refuses_is_recorded_tried_again_then_failed(settings, people):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    settings.CREDITS = {**settings.CREDITS, "ALERT_TRIES": 2}
    notice = alerts.notify(NoticeKind.RUNNING_LOW, "low")
    said = alerts.deliver(str(notice.pk))
    notice.refresh_from_db()
    assert notice.email == Delivery.PENDING and notice.email_detail.startswith("Try 1 failed: ConnectionRefusedError")
    assert "next try" in said and notice.due_at is not None
    assert queued_deliveries() == 2  # the first, and the next try's (run after due_at)

    Notice.objects.filter(pk=notice.pk).update(due_at=timezone.now())
    alerts.deliver(str(notice.pk))
    notice.refresh_from_db()
    assert notice.email == Delivery.FAILED and notice.email_detail.startswith("ConnectionRefusedError")
    assert notice.due_at is None


def test_nobody_to_tell_and_no_mail_set_up_are_skipped_with_why(settings):
    notice = alerts.notify(NoticeKind.RUNNING_LOW, "low")
    alerts.deliver(str(notice.pk))
    notice.refresh_from_db()
    assert notice.email == Delivery.SKIPPED and "Nobody to tell" in notice.email_detail
    assert notice.webhook == Delivery.SKIPPED and "No webhook URL" in notice.webhook_detail

    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    settings.CREDITS = {**settings.CREDITS, "ALERT_EMAILS": ("ops@example.com",)}
    second = alerts.notify(NoticeKind.RUNNING_LOW, "low")
    alerts.deliver(str(second.pk))
    second.refresh_from_db()
    assert second.email == Delivery.SKIPPED and "No mail is set up" in second.email_detail


# --- Webhook -----------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver on loopback: answers the statuses it is given in turn (then 200), or
    hangs until the test ends; keeps every request's headers and body."""

    def __init__(self, statuses: list[int] | None = None, hang: bool = False) -> None:
        self.statuses = list(statuses or [])
        self.hang = hang
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                if receiver.hang:
                    receiver.released.wait(30)
                    return
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(**options: Any) -> Receiver:
        made.append(Receiver(**options))
        return made[-1]

    yield make
    for one in made:
        one.close()


def verify(headers: dict[str, str], body: bytes, secret: str) -> bool:
    """What a receiver does with the signature header."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get(alerts.SIGNATURE_HEADER, ""), expected)


def webhook_settings(settings: Any, url: str, **more: Any) -> None:
    settings.CREDITS = {**settings.CREDITS, "ALERT_WEBHOOK_URL": url, "ALERT_WEBHOOK_SECRET": SECRET, **more}


def test_the_receiver_gets_a_signed_json_notice_with_a_text(settings, receiver):
    hook = receiver()
    webhook_settings(settings, hook.url, SITE_URL="https://reef.example.com")
    notice = alerts.notify(
        NoticeKind.RUNNING_LOW,
        "reef credits are running low: $2.00 left, about 2 hours at the current rate.",
        remaining=2.0,
        hours_left=2.2,
    )
    alerts.deliver(str(notice.pk))

    ((headers, body),) = hook.received
    assert verify(headers, body, SECRET)
    assert not verify(headers, body, "another secret")
    sent = json.loads(body)
    assert sent["text"] == "reef credits are running low: $2.00 left, about 2 hours at the current rate."
    assert (sent["kind"], sent["remaining"], sent["hoursLeft"]) == ("running_low", 2.0, 2.2)
    assert sent["creditsPage"] == "https://reef.example.com/ui/credits/"
    notice.refresh_from_db()
    assert notice.webhook == Delivery.DELIVERED


@pytest.mark.django_db(transaction=True)
def test_a_500_is_tried_again_by_the_worker(settings, receiver, processes):
    hook = receiver(statuses=[500])
    webhook_settings(settings, hook.url, ALERT_RETRY_SECONDS=0.5)
    notice = alerts.notify(NoticeKind.RUNNING_LOW, "low", remaining=2.0)
    processes.worker()

    def delivered() -> bool:
        notice.refresh_from_db()
        return notice.webhook == Delivery.DELIVERED

    wait_for(delivered, 30, f"not delivered: {notice.webhook} {notice.webhook_detail}")
    assert len(hook.received) == 2 and notice.tries == 2
    assert all(verify(headers, body, SECRET) for headers, body in hook.received)


@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_hangs_is_never_waited_for_by_a_page(sandbox, settings, receiver, live_server, user):
    from tests.processes import logged_in_client

    hook = receiver(hang=True)
    webhook_settings(settings, hook.url, ALERT_WEBHOOK_TIMEOUT=0.5)
    sandbox.state.configure(credits=2)
    with logged_in_client(live_server.url, user, timeout=5) as page:  # a real request, over HTTP
        assert page.get("/ui/api/credits").json()["warning"]  # the page's reading crossed the line ...
    (notice,) = running_low_notices()
    assert hook.received == [] and notice.webhook == Delivery.PENDING  # ... and left the delivery to the worker

    alerts.deliver(str(notice.pk))  # the worker's try: given up after the timeout, tried again later
    notice.refresh_from_db()
    assert len(hook.received) == 1
    assert notice.webhook == Delivery.PENDING and notice.webhook_detail == "Try 1 failed: No answer within 0.5 s."


def test_a_try_lost_with_its_worker_is_queued_again():
    notice = alerts.notify(NoticeKind.RUNNING_LOW, "low")
    Notice.objects.filter(pk=notice.pk).update(due_at=timezone.now() - timedelta(minutes=3))  # leased, never saved
    before = queued_deliveries()
    assert alerts.deliver_overdue() == 1
    assert queued_deliveries() == before + 1
    assert alerts.deliver(str(notice.pk)) != "not due"
    assert alerts.deliver(str(notice.pk)) == "not due"


# --- The other notices -------------------------------------------------------------------------


def test_the_auto_top_up_turned_off_and_an_attempt_for_an_operator_are_notices(user):
    auto_topup_disabled.send(AutoTopup, auto_topup=AutoTopup(), reason="Three automatic top-ups failed in a row.")
    attempt = TopupAttempt.objects.create(user=user, amount_cents=2500, idempotency_key="k")
    attempt_flagged.send(TopupAttempt, attempt=attempt)
    kinds = dict(Notice.objects.values_list("kind", "text"))
    assert kinds[NoticeKind.AUTO_TOPUP_OFF].endswith("Three automatic top-ups failed in a row.")
    assert "$25 top-up by ada" in kinds[NoticeKind.NEEDS_OPERATOR]


def test_the_admin_lists_notices_read_only(admin_client):
    alerts.notify(NoticeKind.RUNNING_LOW, "reef credits are running low: $2.00 left.", remaining=2.0)
    page = admin_client.get("/admin/credits/notice/")
    assert page.status_code == 200
    assert b"reef credits are running low" in page.content and b"$2.00" in page.content
    assert admin_client.get("/admin/credits/notice/add/").status_code == 403


# --- Settings ----------------------------------------------------------------------------------


def test_a_webhook_without_a_secret_and_alert_mail_that_goes_nowhere_are_warnings(settings):
    from django.core.checks import run_checks

    settings.CREDITS = {**settings.CREDITS, "ALERT_WEBHOOK_URL": "https://hooks.example.com/x", "ALERT_EMAILS": "a@x"}
    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    ids = {message.id for message in run_checks()}
    assert {"credits.W006", "credits.W007"} <= ids
    settings.CREDITS = {**settings.CREDITS, "ALERT_WEBHOOK_SECRET": SECRET}
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    ids = {message.id for message in run_checks()}
    assert not {"credits.W006", "credits.W007"} & ids


def test_balance_samples_do_not_decide_alone_a_fresh_reading_counts(sandbox, api):
    """The sampler's reading (manage.py sample_balance) checks the line as a page's does."""
    BalanceSample.objects.all().delete()
    sandbox.state.configure(credits=1)
    call_command("sample_balance")
    assert alerts.current_warning() == "Credits are running low: $1.00 left."


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("before", ["never low", "low before"])
def test_two_readers_that_both_saw_no_warning_claim_the_crossing_once(before):
    """Both read the state (not low) before either claims: the site's first crossing races to
    INSERT the state's row, a later one to UPDATE it; one notice either way."""
    if before == "low before":  # a warning that a top-up ended an hour ago
        AlertState.objects.create(pk=AlertState.SINGLETON_PK, low=False, changed_at=timezone.now() - timedelta(hours=1))
    both_read = threading.Barrier(2, timeout=10)
    real_history = alerts.history

    def history_once_both_have_read(since: Any) -> Any:  # the query between the read and the claim
        both_read.wait()
        return real_history(since)

    failures: list[BaseException] = []

    asked = timezone.now()  # both asked at once

    def observe() -> None:
        try:
            alerts.observe(reading(3.0), asked)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    with mock.patch.object(alerts, "history", history_once_both_have_read):
        threads = [threading.Thread(target=observe) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert failures == []
    assert len(running_low_notices()) == 1
    assert AlertState.objects.get().low


@pytest.mark.django_db(transaction=True)
def test_one_notice_per_crossing_with_four_server_processes_and_two_workers_reading_at_once(
    sandbox, settings, user, processes, receiver
):
    """Every request reads the landing (no cache), in four gunicorn workers, while two db_workers
    sample it every 0.6 s: one of them claims the crossing, and its notice is posted once."""
    from concurrent.futures import ThreadPoolExecutor

    from credits.samples import start_sampling
    from tests.processes import logged_in_client

    hook = receiver()
    webhook_settings(settings, hook.url, BALANCE_CACHE_SECONDS=0, SAMPLE_MINUTES=0.01)
    sandbox.state.configure(credits=3)
    start_sampling()
    for _ in range(2):
        processes.worker()
    _, url = processes.site(workers=4)
    clients = [logged_in_client(url, user) for _ in range(8)]

    def read(client: Any) -> list[str]:
        return [client.get("/ui/api/credits").json().get("warning", "") for _ in range(4)]

    with ThreadPoolExecutor(len(clients)) as pool:
        answers = [warning for warnings in pool.map(read, clients) for warning in warnings]
    for client in clients:
        client.close()
    assert len(answers) == 32 and "Credits are running low: $3.00 left." in answers
    wait_for(lambda: hook.received, 30, "the notice was not posted")
    sampled = DBTaskResult.objects.filter(task_path="credits.samples.sample_balance", finished_at__isnull=False)
    wait_for(lambda: sampled.count() >= 4, 30, "the workers did not sample")  # read the landing, after too
    assert len(running_low_notices()) == 1
    assert [json.loads(body)["kind"] for _, body in hook.received] == ["running_low"]


def test_alert_emails_may_be_a_comma_separated_string_as_the_environment_says_it(settings):
    settings.CREDITS = {**settings.CREDITS, "ALERT_EMAILS": " ops@example.com, ,Ada@Example.com "}
    assert alerts.recipients() == ["ops@example.com", "Ada@Example.com"]


def test_at_zero_a_page_with_a_stopped_tasks_widget_leaves_the_warning_to_it(user):
    from django.template import Context, Template
    from django.test import RequestFactory

    from credits.balance import remember_balance

    alerts.observe(reading(0.0), timezone.now())
    remember_balance(reading(0.0))

    def page(body: str) -> str:
        request = RequestFactory().get("/ui/")
        request.user = user
        return Template("{% load credits %}" + body + "{% credits_warning %}").render(Context({"request": request}))

    def warning_tag(html: str) -> str:  # the warning's opening tag
        return html[html.index('data-credits="warning"') :].split(">", 1)[0]

    alone = page("")  # no stopped task on the page: the warning says it
    assert "The team&#x27;s credits have run out." in alone and not warning_tag(alone).endswith(" hidden")
    beside = page("{% credits_inline_widget %}")  # the stopped task's widget says it
    assert warning_tag(beside).endswith(" hidden")
