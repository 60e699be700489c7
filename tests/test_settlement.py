"""Settlement: an outcome that was not known at once is found by re-sending under its own key.

Against the real sandbox over HTTP (in this process); ``httpx.MockTransport`` only where a
fault must be injected at one exact point.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.utils import timezone

from credits import client, settlement
from credits.balance import CACHE_KEY
from credits.models import SettledBy, Status, TopupAttempt
from credits.settlement import SWEEP, start_sweeping, sweep_settlements
from credits.signals import topup_succeeded
from credits.tasks import settle_topup
from credits.testing import override_transport
from tests.conftest import make_api


def charges(sandbox):
    return sandbox.state.snapshot()["charges"]


@pytest.fixture
def slow(sandbox, settings):
    """The landing charges, then answers after the site has stopped waiting."""
    settings.CREDITS = {**settings.CREDITS, "TIMEOUT": 0.3, "PENDING_GRACE_SECONDS": 0.0}
    sandbox.state.configure(delay=0.8)
    return sandbox


def unknown_topup(api, sandbox, cents=1500, key="first"):
    response = api.topup({"amountCents": cents}, key=key)
    assert (response.status_code, response.json()["code"]) == (504, "upstream_timeout")
    sandbox.state.configure(delay=0)
    return TopupAttempt.objects.get(idempotency_key=key)


def unanswered_topup(api, sandbox, key="first"):
    """A top-up whose connection broke before the landing answered; the landing then keeps failing."""
    sandbox.state.configure(mode="drop")
    response = api.topup({"amountCents": 1500}, key=key)
    assert (response.status_code, response.json()["code"]) == (502, "upstream_error")
    sandbox.state.configure(mode="error")
    return TopupAttempt.objects.get(idempotency_key=key)


def test_a_timeout_leaves_an_unknown_attempt_due_for_settlement(slow, api):
    attempt = unknown_topup(api, slow)
    assert (attempt.status, attempt.first_status, attempt.key_live, attempt.outcome_shown) == (
        Status.UNKNOWN,
        Status.UNKNOWN,
        True,
        False,
    )
    assert attempt.settle_at is not None and attempt.settle_at > attempt.created_at


def due_sweep() -> str:
    from credits.models import Schedule

    return Schedule.objects.get(name=SWEEP).due_at.isoformat()


def test_the_background_settles_an_unknown_outcome_as_succeeded(slow, api):
    attempt = unknown_topup(api, slow)
    TopupAttempt.objects.update(settle_at=timezone.now())
    assert sweep_settlements.call(due_sweep()) == "succeeded 1"
    attempt.refresh_from_db()
    assert (attempt.status, attempt.first_status, attempt.settled_by, attempt.settle_tries) == (
        Status.SUCCEEDED,
        Status.UNKNOWN,
        SettledBy.BACKGROUND,
        1,
    )
    assert attempt.settled_at is not None and attempt.settle_at is None
    assert attempt.response_status == 200 and attempt.response_body["ok"] is True
    assert len(charges(slow)) == 1
    # Its key now replays the success.
    replay = api.topup({"amountCents": 1500}, key="first")
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (200, "true")


def test_a_settled_decline_shows_the_decline(sandbox, api, settings):
    settings.CREDITS = {**settings.CREDITS, "TIMEOUT": 0.3}
    sandbox.state.configure(mode="decline", delay=0.8)
    attempt = unknown_topup(api, sandbox)
    settlement.settle(attempt, SettledBy.SWEEP)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.error_code, attempt.response_status) == (Status.DECLINED, "card_declined", 402)
    assert charges(sandbox) == []


def test_a_sweep_leaves_an_attempt_whose_backoff_has_not_passed(slow, api):
    attempt = unknown_topup(api, slow)
    assert sweep_settlements.call(due_sweep()) == "nothing due"
    assert slow.state.snapshot()["topupRequests"] == 1
    attempt.refresh_from_db()
    assert attempt.status == Status.UNKNOWN
    # A task queued by an older version for this one attempt leaves it to the sweeps too.
    assert settle_topup.call(str(attempt.pk), attempt.settle_at.isoformat()) == "left to the sweeps"


def test_no_answer_keeps_it_unknown_with_backoff_and_counts_the_tries(sandbox, api):
    attempt = unanswered_topup(api, sandbox)
    waits = []
    for _ in range(3):
        before = timezone.now()
        attempt = settlement.settle(attempt, SettledBy.SWEEP)
        waits.append((attempt.settle_at - before).total_seconds())
    assert (attempt.status, attempt.first_status, attempt.settle_tries) == (Status.UNKNOWN, Status.UNKNOWN, 3)
    assert waits[0] < waits[1] < waits[2]
    assert not attempt.needs_operator


def test_a_day_without_an_answer_flags_it_for_an_operator(sandbox, api):
    unanswered_topup(api, sandbox)
    TopupAttempt.objects.update(created_at=timezone.now() - timedelta(days=1, minutes=1))
    attempt = settlement.settle(TopupAttempt.objects.get(), SettledBy.SWEEP)
    assert attempt.needs_operator and attempt.status == Status.UNKNOWN
    sandbox.state.configure(mode="ok")
    attempt = settlement.settle(attempt, SettledBy.ADMIN)
    assert (attempt.status, attempt.needs_operator, attempt.settled_by) == (Status.SUCCEEDED, False, SettledBy.ADMIN)
    assert len(charges(sandbox)) == 1  # the first request never reached the landing: this is its charge


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(409, json={"error": "In progress.", "code": "in_progress"}),
        httpx.Response(429, json={"error": "Slow down."}),
        httpx.Response(401, json={"error": "Token refused."}),
        httpx.Response(500, text="oops"),
        httpx.Response(200, text="<html>ok</html>", headers={"content-type": "text/html"}),
    ],
)
def test_an_answer_that_says_nothing_about_the_first_request_does_not_settle(db, user, settings, answer):
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": "https://landing.test"}
    attempt = TopupAttempt.objects.create(
        user=user, amount_cents=1000, idempotency_key="k", upstream_key="reef-k", status=Status.UNKNOWN
    )
    with override_transport(httpx.MockTransport(lambda request: answer)):
        attempt = settlement.settle(attempt, SettledBy.SWEEP)
    assert attempt.status == Status.UNKNOWN and attempt.settle_tries == 1


def test_settlement_resends_exactly_the_attempt_under_its_upstream_key(db, user, settings):
    settings.CREDITS = {**settings.CREDITS, "LANDING_URL": "https://landing.test"}
    seen = []
    attempt = TopupAttempt.objects.create(
        user=user, amount_cents=2500, idempotency_key="k", upstream_key="reef-abc", status=Status.UNKNOWN
    )

    def answer(request):
        seen.append(request)
        return httpx.Response(200, json={"ok": True, "amountCents": 2500})

    with override_transport(httpx.MockTransport(answer)):
        settlement.settle(attempt, SettledBy.SWEEP)
    assert [(r.headers["Idempotency-Key"], r.read()) for r in seen] == [("reef-abc", b'{"amountCents":2500}')]


def test_a_pending_attempt_whose_call_may_still_run_is_left_alone(sandbox, user, settings):
    attempt = TopupAttempt.objects.create(
        user=user,
        amount_cents=1000,
        idempotency_key="k",
        upstream_key="reef-k",
        settle_at=timezone.now() + timedelta(seconds=30),
    )
    assert settlement.settle(attempt, SettledBy.ADMIN).status == Status.PENDING
    call_command("settle_topups")
    assert sandbox.state.snapshot()["topupRequests"] == 0


def test_a_pending_attempt_past_its_deadline_is_sent_and_charged_once(sandbox, user):
    """A crash between the claim and the landing call: the settlement makes the intended charge."""
    TopupAttempt.objects.create(
        user=user, amount_cents=1000, idempotency_key="k", upstream_key="reef-k", settle_at=timezone.now()
    )
    call_command("settle_topups")
    attempt = TopupAttempt.objects.get()
    assert (attempt.status, attempt.first_status, attempt.settled_by) == (Status.SUCCEEDED, Status.PENDING, "sweep")
    assert [c["key"] for c in charges(sandbox)] == ["reef-k"]
    call_command("settle_topups")
    assert len(charges(sandbox)) == 1


def test_settle_topups_says_what_it_did(sandbox, user, capsys):
    for key in ("a", "b"):
        TopupAttempt.objects.create(
            user=user,
            amount_cents=1000,
            idempotency_key=key,
            upstream_key=f"reef-{key}",
            status=Status.UNKNOWN,
            settle_at=timezone.now(),
        )
    call_command("settle_topups")
    assert "Settled 2 top-up attempt(s): succeeded 2." in capsys.readouterr().out


# --- Settle before charging again -------------------------------------------------------------


def test_a_reload_after_an_unknown_outcome_charges_once_and_says_so(slow, api):
    unknown_topup(api, slow, cents=1500)
    caches["default"].set(CACHE_KEY, {"credits": 10.0, "spend": 0.0, "remaining": 10.0})
    again = api.topup({"amountCents": 1500}, key="after-reload")  # a new page, a new key
    assert again.status_code == 409
    assert again.json()["code"] == "earlier_topup_succeeded"
    assert again.json()["error"] == "Your earlier $15 top-up went through, so nothing more was charged."
    assert len(charges(slow)) == 1
    earlier = TopupAttempt.objects.get(idempotency_key="first")
    assert (earlier.status, earlier.settled_by) == (Status.SUCCEEDED, SettledBy.NEXT_TOPUP)
    assert caches["default"].get(CACHE_KEY) is None  # dropped: the next reading is the landing's
    assert not TopupAttempt.objects.filter(idempotency_key="after-reload").exists()
    # Told once: the next top-up goes ahead.
    assert api.topup({"amountCents": 1500}, key="later").status_code == 200
    assert len(charges(slow)) == 2


def test_a_declined_earlier_attempt_lets_the_new_one_go_ahead(sandbox, api, settings):
    settings.CREDITS = {**settings.CREDITS, "TIMEOUT": 0.3}
    sandbox.state.configure(mode="decline", delay=0.8)
    unknown_topup(api, sandbox)
    sandbox.state.configure(mode="ok")
    assert api.topup({"amountCents": 1000}, key="new").status_code == 200
    assert [a.status for a in TopupAttempt.objects.order_by("created_at")] == [Status.DECLINED, Status.SUCCEEDED]


def test_while_the_earlier_outcome_stays_unknown_nothing_new_is_sent(sandbox, api):
    unanswered_topup(api, sandbox)
    refused = api.topup({"amountCents": 1000}, key="new")
    assert (refused.status_code, refused.json()["code"]) == (409, "unsettled")
    assert "nothing new was charged" in refused.json()["error"]
    assert sandbox.state.snapshot()["topupRequests"] == 2  # the first try and its settlement only
    assert not TopupAttempt.objects.filter(idempotency_key="new").exists()


def test_the_same_keys_retry_is_the_settlement(slow, api):
    unknown_topup(api, slow)
    retry = api.topup({"amountCents": 1500}, key="first")
    assert retry.status_code == 200 and retry.json()["ok"] is True
    attempt = TopupAttempt.objects.get()
    assert (attempt.settled_by, attempt.outcome_shown) == (SettledBy.RETRY, True)
    assert api.topup({"amountCents": 1500}, key="second").status_code == 200  # the user was told: no 409
    assert len(charges(slow)) == 2


def test_a_success_settled_in_the_background_is_told_before_charging_again(slow, api):
    attempt = unknown_topup(api, slow)
    settlement.settle(attempt, SettledBy.BACKGROUND)
    answer = api.topup({"amountCents": 1500}, key="new")
    assert (answer.status_code, answer.json()["code"]) == (409, "earlier_topup_succeeded")
    assert api.topup({"amountCents": 1500}, key="new").status_code == 200
    assert len(charges(slow)) == 2


def test_a_replay_of_the_settled_key_counts_as_telling(slow, api):
    attempt = unknown_topup(api, slow)
    settlement.settle(attempt, SettledBy.BACKGROUND)
    assert api.topup({"amountCents": 1500}, key="first")["Idempotent-Replayed"] == "true"
    assert api.topup({"amountCents": 1500}, key="new").status_code == 200


def test_another_users_unknown_outcome_does_not_hold_up_this_user(sandbox, api, other_user):
    unanswered_topup(api, sandbox)
    sandbox.state.configure(mode="ok")
    assert make_api(other_user).topup({"amountCents": 1000}).status_code == 200


def test_the_form_without_javascript_settles_first_too(slow, api, user):
    unknown_topup(api, slow, cents=2500)
    response = api.client.post(
        "/ui/api/topup-form", {"amount": "25", "key": "rendered", "csrfmiddlewaretoken": api.csrf, "next": "/ui/"}
    )
    assert response.status_code == 302
    page = api.client.get("/ui/")
    assert "Your earlier $25 top-up went through, so nothing more was charged." in page.content.decode()
    assert len(charges(slow)) == 1


# --- Writing an outcome once ------------------------------------------------------------------


def test_a_late_first_answer_does_not_overwrite_a_settlement(sandbox, user, settings):
    from credits.outcomes import Outcome

    attempt = TopupAttempt.objects.create(
        user=user, amount_cents=1000, idempotency_key="k", upstream_key="reef-k", settle_at=timezone.now()
    )
    stale = TopupAttempt.objects.get(pk=attempt.pk)
    settlement.settle(attempt, SettledBy.SWEEP)
    # The original request, finishing after the sweep settled it, with an answer of its own.
    answer = settlement.record(stale, Outcome(Status.ERROR, 502, "upstream_error", "Oops."), 500, 10)
    assert answer.status == 200 and answer.succeeded
    attempt.refresh_from_db()
    assert (attempt.status, attempt.settled_by, attempt.landing_status) == (Status.SUCCEEDED, SettledBy.SWEEP, 200)


def test_settling_twice_signals_once(slow, api):
    got = []

    def receiver(sender, attempt, **kwargs):
        got.append(attempt.pk)

    attempt = unknown_topup(api, slow)
    stale = TopupAttempt.objects.get(pk=attempt.pk)
    topup_succeeded.connect(receiver)
    try:
        settlement.settle(attempt, SettledBy.SWEEP)
        settlement.settle(stale, SettledBy.BACKGROUND)  # read before the first one wrote
    finally:
        topup_succeeded.disconnect(receiver)
    assert got == [attempt.pk]
    assert TopupAttempt.objects.get().settled_by == SettledBy.SWEEP


# --- Scheduling -------------------------------------------------------------------------------


def test_the_claim_queues_nothing_and_one_sweeping_chain_lives(sandbox, api):
    """migrate started the chain (here: the test database's). The claim adds no task; each
    link queues the next before it works; a second start, or an old link, changes nothing."""
    from django_tasks_db.models import DBTaskResult

    chains = sorted(DBTaskResult.objects.values_list("task_path", flat=True))
    assert chains == ["credits.samples.sample_balance", "credits.settlement.sweep_settlements"]
    api.topup({"amountCents": 1000})
    assert DBTaskResult.objects.count() == 2
    assert start_sweeping() is False  # one lives
    due = due_sweep()
    assert sweep_settlements.call(due) == "nothing due"
    assert sweep_settlements.call(due) == "superseded"  # the same link again: it moved on already
    following = DBTaskResult.objects.order_by("-enqueued_at").first()
    assert following.args_kwargs == {"args": [due_sweep()], "kwargs": {}}
    assert following.run_after.isoformat() == due_sweep() > due


def test_a_dead_chain_is_started_again(db):
    from credits.models import Schedule

    Schedule.objects.filter(name=SWEEP).update(due_at=timezone.now() - timedelta(hours=1))
    assert start_sweeping() is True
    assert Schedule.objects.get(name=SWEEP).due_at > timezone.now() - timedelta(seconds=5)


def test_a_task_queued_under_its_first_name_still_runs():
    """Tasks queued before the task moved beside its work name ``credits.tasks.settle_topup``."""
    from django.utils.module_loading import import_string

    from credits import autotopup, settlement

    assert import_string("credits.tasks.settle_topup") is settlement.settle_topup
    assert import_string("credits.tasks.run_auto_topup") is autotopup.run_auto_topup


def test_with_a_backend_that_cannot_wait_nothing_is_queued_and_a_check_says_so(sandbox, api, settings):
    from credits.checks import check_task_backend

    assert check_task_backend() == []
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    assert api.topup({"amountCents": 1000}).status_code == 200
    assert TopupAttempt.objects.get().status == Status.SUCCEEDED
    assert [m.id for m in check_task_backend()] == ["credits.W003"]
    assert start_sweeping() is False  # an immediate backend would sweep for ever: no chain


# --- Defects found on the way -----------------------------------------------------------------


def test_under_atomic_requests_the_landing_is_called_outside_any_transaction(sandbox, api, monkeypatch):
    from django.db import connection

    # The test runs in a transaction of its own: count the blocks that the request adds.
    depth = len(connection.atomic_blocks)
    seen = []
    real = client.topup

    def spy(*args, **kwargs):
        seen.append(len(connection.atomic_blocks) - depth)
        return real(*args, **kwargs)

    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    monkeypatch.setattr(client, "topup", spy)
    # The JSON view is async: Django refuses ATOMIC_REQUESTS for an async view unless it is non-atomic.
    assert api.topup({"amountCents": 1000}).status_code == 200
    api.client.post("/ui/api/topup-form", {"amount": "10", "key": "f", "csrfmiddlewaretoken": api.csrf, "next": "/ui/"})
    assert seen == [0]  # the form's call, made with no transaction of the request's open
    assert TopupAttempt.objects.filter(status=Status.SUCCEEDED).count() == 2


def test_an_unreachable_cache_after_a_charge_does_not_fail_the_answer(sandbox, api, settings, caplog):
    settings.CACHES = {
        **settings.CACHES,
        "down": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"},
    }
    settings.CREDITS = {**settings.CREDITS, "BALANCE_CACHE_ALIAS": "down"}
    got = []

    def receiver(sender, attempt, **kwargs):
        got.append(attempt)

    topup_succeeded.connect(receiver)
    try:
        response = api.topup({"amountCents": 1000})
    finally:
        topup_succeeded.disconnect(receiver)
    assert response.status_code == 200 and response.json()["ok"] is True
    assert len(got) == 1
    assert "cached balance could not be updated" in caplog.text


def test_a_success_the_page_has_shown_is_not_announced_again(slow, api, other_user):
    attempt = unknown_topup(api, slow)
    settlement.settle(attempt, SettledBy.BACKGROUND)
    assert (
        make_api(other_user)
        .client.post("/ui/api/topup-seen", {"attempt": str(attempt.pk)}, content_type="application/json")
        .status_code
        == 403
    )  # no CSRF token
    other = make_api(other_user)
    foreign = other.client.post(
        "/ui/api/topup-seen",
        {"attempt": str(attempt.pk)},
        content_type="application/json",
        headers={"X-CSRFToken": other.csrf},
    )
    assert foreign.json() == {"ok": True}
    assert not TopupAttempt.objects.get().outcome_shown  # another user's attempt is left alone
    bad = api.client.post(
        "/ui/api/topup-seen", {"attempt": "nope"}, content_type="application/json", headers={"X-CSRFToken": api.csrf}
    )
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_attempt")
    seen = api.client.post(
        "/ui/api/topup-seen",
        {"attempt": str(attempt.pk)},
        content_type="application/json",
        headers={"X-CSRFToken": api.csrf},
    )
    assert seen.status_code == 200
    assert api.topup({"amountCents": 1500}, key="new").status_code == 200  # not held back to tell again


def test_the_balance_read_right_after_a_settled_success_is_the_landings(slow, api):
    from credits.balance import get_balance

    attempt = unknown_topup(api, slow)  # charged: the landing's answer said $25.00 remaining
    slow.state.configure(remaining=0)  # the team's agents spent it all since
    caches["default"].set(CACHE_KEY, {"credits": 10.0, "spend": 0.0, "remaining": 10.0}, 60)  # an older reading
    assert settlement.settle(attempt, SettledBy.BACKGROUND).status == Status.SUCCEEDED
    # The replayed answer still carries the $25.00 of the first request; the landing says $0.00.
    assert caches["default"].get(CACHE_KEY) is None
    assert get_balance()["remaining"] == slow.state.snapshot()["remaining"] == 0.0


def test_a_timeout_is_a_warning_of_the_apps_not_an_error_of_djangos_request_log(slow, api, caplog):
    caplog.set_level("INFO")
    unknown_topup(api, slow)
    warnings = [r for r in caplog.records if r.name == "credits" and r.levelname == "WARNING"]
    assert any("status=unknown" in r.getMessage() and "code=upstream_timeout" in r.getMessage() for r in warnings)
    assert not [r for r in caplog.records if r.name == "django.request"]


def test_a_balance_the_landing_cannot_give_is_a_warning_too(sandbox, api, caplog):
    sandbox.state.configure(mode="error")
    caplog.set_level("INFO")
    with override_transport(httpx.MockTransport(lambda request: httpx.Response(500, text="down"))):
        response = api.balance()
    assert (response.status_code, response.json()["code"]) == (502, "upstream_unavailable")
    assert [r.levelname for r in caplog.records if r.name == "credits"] == ["WARNING"]
    assert not [r for r in caplog.records if r.name == "django.request"]
