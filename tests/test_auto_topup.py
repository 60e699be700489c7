"""Auto top-up (docs/contract.md section 7): the JSON API, and the rule against the real sandbox
landing with a real background worker (db_worker) and balance reads from several processes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection

from credits import autotopup
from credits.balance import get_balance
from credits.models import AutoTopup, Source, Status, TopupAttempt
from credits.signals import auto_topup_disabled
from tests.conftest import make_api
from tests.processes import ROOT, environment, wait_for

URL = "/ui/api/auto-topup"
VALID = {"enabled": True, "thresholdCents": 500, "amountCents": 2500, "monthlyCapCents": 10000}
SHAPE = {
    "enabled",
    "thresholdCents",
    "amountCents",
    "monthlyCapCents",
    "spentThisMonthCents",
    "canManage",
    "disabledReason",
}


def grant(user: Any) -> Any:
    user.user_permissions.add(Permission.objects.get(codename="manage_auto_topup", content_type__app_label="credits"))
    return type(user).objects.get(pk=user.pk)  # a fresh object: no cached permissions


def put(api: Any, body: Any = None, *, raw: bytes | str | None = None, csrf: bool = True) -> Any:
    data = raw if raw is not None else json.dumps(body)
    headers = {"X-CSRFToken": api.csrf} if csrf and api.csrf else {}
    return api.client.put(URL, data=data, content_type="application/json", headers=headers)


@pytest.fixture
def manager(user: Any) -> Any:
    return grant(user)


@pytest.fixture
def manager_api(manager: Any) -> Any:
    return make_api(manager)


# --- the API ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_get_answers_the_shape_for_any_logged_in_user(api):
    response = api.client.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == SHAPE
    assert body["enabled"] is False
    assert body["canManage"] is False
    assert body["disabledReason"] is None
    assert body["spentThisMonthCents"] == 0


@pytest.mark.django_db
def test_anonymous_gets_401_json():
    api = make_api(None)
    for response in (api.client.get(URL), put(api, VALID)):
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert response.json()["error"]


@pytest.mark.django_db
def test_other_methods_get_405_json(manager_api):
    for method in ("post", "delete", "patch"):
        response = getattr(manager_api.client, method)(URL, headers={"X-CSRFToken": manager_api.csrf})
        assert response.status_code == 405
        assert response.json()["code"] == "method_not_allowed"


@pytest.mark.django_db
def test_put_without_the_permission_is_forbidden(api):
    response = put(api, VALID)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not AutoTopup.objects.filter(enabled=True).exists()


@pytest.mark.django_db
def test_put_without_csrf_is_refused(manager):
    api = make_api(manager, csrf=False)
    response = put(api, VALID)
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert not AutoTopup.objects.filter(enabled=True).exists()


@pytest.mark.django_db
def test_put_with_the_permission_stores_and_answers_the_new_state(manager_api, manager):
    response = put(manager_api, VALID)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == SHAPE
    assert body == {**VALID, "spentThisMonthCents": 0, "canManage": True, "disabledReason": None}
    row = AutoTopup.objects.get()
    assert row.enabled and row.enabled_by == manager and row.armed
    assert manager_api.client.get(URL).json() == body


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"enabled": "true"},
        {"enabled": 1},
        {"enabled": None},
        {"thresholdCents": "500"},
        {"thresholdCents": 500.0},
        {"thresholdCents": 5.5},
        {"thresholdCents": True},
        {"thresholdCents": None},
        {"thresholdCents": -1},
        {"amountCents": "2500"},
        {"amountCents": 2500.0},
        {"amountCents": False},
        {"amountCents": None},
        {"amountCents": 2550},  # not whole dollars
        {"amountCents": 100},  # below the minimum
        {"amountCents": 100_100},  # above the maximum
        {"monthlyCapCents": 2000},  # below the amount
        {"monthlyCapCents": "10000"},
        {"monthlyCapCents": None},
        {"monthlyCapCents": 2**40},
    ],
)
def test_put_refuses_invalid_values(manager_api, change):
    response = put(manager_api, {**VALID, **change})
    assert response.status_code == 400, change
    assert response.json()["code"] == "invalid_auto_topup"
    assert response.json()["error"]
    assert not AutoTopup.objects.filter(enabled=True).exists()


@pytest.mark.django_db
def test_put_refuses_a_threshold_of_zero_with_a_sentence(manager_api):
    response = put(manager_api, {**VALID, "thresholdCents": 0})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_auto_topup")
    assert response.json()["error"] == (
        "The threshold must be more than $0: auto top-up adds credits when the balance falls below it."
    )
    assert not AutoTopup.objects.filter(enabled=True).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("missing", sorted(VALID))
def test_put_refuses_a_missing_value(manager_api, missing):
    body = {name: value for name, value in VALID.items() if name != missing}
    assert put(manager_api, body).json()["code"] == "invalid_auto_topup"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "raw", ["[1, 2]", '"on"', "12", "null", "{", "not json", '{"enabled": true, "enabled": false}', "NaN"]
)
def test_put_refuses_a_body_that_is_not_a_json_object(manager_api, raw):
    response = put(manager_api, raw=raw)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"


@pytest.mark.django_db
def test_put_refuses_a_body_over_4_kib(manager_api):
    raw = json.dumps({**VALID, "padding": "x" * 5000})
    response = put(manager_api, raw=raw)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"
    assert not AutoTopup.objects.filter(enabled=True).exists()


@pytest.mark.django_db
def test_turning_it_on_attributes_it_and_clears_the_reason(manager_api, manager):
    AutoTopup.objects.create(pk=1, failures_in_a_row=3, disabled_reason="Card declined.", armed=False)
    assert manager_api.client.get(URL).json()["disabledReason"] == "Card declined."
    body = put(manager_api, VALID).json()
    assert body["disabledReason"] is None
    row = AutoTopup.objects.get()
    assert (row.failures_in_a_row, row.armed, row.enabled_by) == (0, True, manager)


# --- the rule, against the real sandbox --------------------------------------------------------


@pytest.fixture
def fresh(sandbox: Any, settings: Any) -> Any:
    """The sandbox, and no balance cache: every read reaches the landing."""
    settings.CREDITS = {
        **settings.CREDITS,
        "BALANCE_CACHE_SECONDS": 0,
        "TIMEOUT": 1.0,
        "PENDING_GRACE_SECONDS": 0.5,
        "SETTLE_BACKOFF_SECONDS": 0.2,
        "SETTLE_SWEEP_SECONDS": 0.2,
    }
    return sandbox


def enable(manager: Any, **values: int) -> AutoTopup:
    given = {"threshold_cents": 500, "amount_cents": 2500, "monthly_cap_cents": 10000, **values}
    return autotopup.update(manager, enabled=True, **given)


def charges(sandbox: Any) -> list[int]:
    return [c["amountCents"] for c in sandbox.state.snapshot()["charges"]]


def run_claimed() -> str:
    """What the worker does with the claimed drop, here in the test's process."""
    return autotopup.charge(AutoTopup.objects.get().in_flight_key)


@pytest.mark.django_db
def test_nothing_happens_while_it_is_off(fresh, manager):
    fresh.state.configure(spend=9.5)
    AutoTopup.objects.create(pk=1, enabled=False, enabled_by=manager)
    assert get_balance()["remaining"] == 0.5
    assert autotopup.observe(0.5) == "off"
    assert AutoTopup.objects.get().in_flight_key == ""
    assert not TopupAttempt.objects.exists()
    assert charges(fresh) == []


@pytest.mark.django_db
def test_turned_off_after_the_claim_charges_nothing(fresh, manager):
    enable(manager)
    assert autotopup.observe(1.0) == "claimed"
    AutoTopup.objects.update(enabled=False)
    assert run_claimed() == "disabled"
    assert not TopupAttempt.objects.exists()
    assert charges(fresh) == []
    assert AutoTopup.objects.get().in_flight_key == ""


@pytest.mark.django_db
def test_one_claim_per_drop_and_rearmed_when_the_balance_is_back(fresh, manager):
    enable(manager)
    assert autotopup.observe(1.0) == "claimed"
    assert autotopup.observe(1.0) == "in_flight"
    assert run_claimed() == "200"
    assert charges(fresh) == [2500]
    row = AutoTopup.objects.get()
    assert row.in_flight_key == "" and row.failures_in_a_row == 0
    # The success's balance ($35) was above the threshold: armed for the next drop.
    assert row.armed
    attempt = TopupAttempt.objects.get()
    assert (attempt.source, attempt.user, attempt.status, attempt.amount_cents) == (
        Source.AUTO,
        manager,
        Status.SUCCEEDED,
        2500,
    )
    assert attempt.outcome_shown  # the manager's next click is not held back by it


@pytest.mark.django_db
def test_a_drop_that_stays_low_fires_once(fresh, manager):
    enable(manager, threshold_cents=10000)  # $100: one $25 top-up does not bring it back up
    assert autotopup.observe(1.0) == "claimed"
    run_claimed()
    assert autotopup.observe(35.0) == "fired"
    assert charges(fresh) == [2500]


@pytest.mark.django_db
def test_never_past_the_monthly_cap(fresh, manager):
    enable(manager, monthly_cap_cents=5000)
    for _ in range(2):
        assert autotopup.observe(1.0) == "claimed"
        run_claimed()
        autotopup.observe(50.0)  # back up
    assert charges(fresh) == [2500, 2500]
    assert autotopup.observe(1.0) == "cap"
    assert charges(fresh) == [2500, 2500]
    # The cap is checked again when the task runs (lowered after the claim).
    AutoTopup.objects.update(monthly_cap_cents=10000)
    assert autotopup.observe(1.0) == "claimed"
    AutoTopup.objects.update(monthly_cap_cents=5000)
    assert run_claimed() == "cap"
    assert charges(fresh) == [2500, 2500]
    api = make_api(manager)
    assert api.client.get(URL).json()["spentThisMonthCents"] == 5000


@pytest.mark.django_db
def test_three_declines_in_a_row_turn_it_off_with_the_reason_and_a_signal(fresh, manager, other_user):
    fresh.state.configure(mode="decline")
    enable(manager)
    heard: list[dict[str, Any]] = []

    def listener(sender: Any, **kwargs: Any) -> None:
        heard.append({"sender": sender, **kwargs})

    auto_topup_disabled.connect(listener)
    try:
        for failures in (1, 2, 3):
            assert autotopup.observe(1.0) == "claimed"
            run_claimed()
            assert AutoTopup.objects.get().failures_in_a_row == failures
    finally:
        auto_topup_disabled.disconnect(listener)
    row = AutoTopup.objects.get()
    assert not row.enabled
    assert "declined" in row.disabled_reason
    assert row.disabled_at is not None
    assert [h["sender"] for h in heard] == [AutoTopup]
    assert heard[0]["reason"] == row.disabled_reason
    assert heard[0]["auto_topup"].pk == row.pk
    # The notice is there for everyone, also without the permission.
    body = make_api(other_user).client.get(URL).json()
    assert body["enabled"] is False and body["disabledReason"] == row.disabled_reason
    # Nothing more is charged or even tried while it is off.
    assert autotopup.observe(0.0) == "off"
    assert TopupAttempt.objects.count() == 3
    assert set(TopupAttempt.objects.values_list("source", "status", "user")) == {
        (Source.AUTO, Status.DECLINED, manager.pk)
    }
    assert charges(fresh) == []


@pytest.mark.django_db
def test_a_success_resets_the_failures(fresh, manager):
    fresh.state.configure(mode="decline")
    enable(manager)
    for _ in range(2):
        autotopup.observe(1.0)
        run_claimed()
    fresh.state.configure(mode="ok")
    autotopup.observe(1.0)
    run_claimed()
    row = AutoTopup.objects.get()
    assert row.enabled and row.failures_in_a_row == 0


@pytest.mark.django_db
def test_a_refusal_by_the_limits_counts_as_a_failure(fresh, manager, settings):
    from credits.topups import request_topup

    settings.CREDITS = {**settings.CREDITS, "MAX_CENTS_PER_DAY": 2600}
    assert request_topup(manager, 500).status == 200  # the manager's own $5: $25 more passes the day's limit
    enable(manager)
    autotopup.observe(1.0)
    assert run_claimed() == "rate_limited"
    row = AutoTopup.objects.get()
    assert row.failures_in_a_row == 1 and row.in_flight_key == "" and row.armed
    assert charges(fresh) == [500]


@pytest.mark.django_db
def test_a_failing_hook_never_fails_the_balance_read(fresh, manager, monkeypatch, caplog):
    enable(manager)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(autotopup, "committed_this_month", broken)
    fresh.state.configure(spend=9)
    assert get_balance()["remaining"] == 1.0
    assert "auto top-up" in caplog.text


@pytest.mark.django_db
def test_a_lost_claim_is_released_once_stale(fresh, manager):
    from datetime import timedelta

    from django.utils import timezone

    enable(manager)
    autotopup.observe(1.0)
    AutoTopup.objects.update(in_flight_since=timezone.now() - timedelta(hours=1))
    assert autotopup.observe(1.0) == "in_flight"
    row = AutoTopup.objects.get()
    assert row.in_flight_key == "" and row.armed
    assert autotopup.observe(1.0) == "claimed"


# --- with real processes: the worker, and balance reads from several processes -----------------

READER = """
import django, sys
django.setup()
from credits.balance import get_balance
for _ in range(int(sys.argv[1])):
    get_balance()
"""


def read_balance_from_another_process(times: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", READER, str(times)], cwd=ROOT, env=environment())


def read_balance_in_threads(threads: int, times: int) -> None:
    def reader() -> None:
        try:
            for _ in range(times):
                get_balance()
        finally:
            connection.close()

    started = [threading.Thread(target=reader) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()


@pytest.mark.django_db(transaction=True)
def test_many_reads_from_several_processes_charge_once_per_drop(fresh, processes, django_user_model):
    manager = grant(django_user_model.objects.create_user("mia", "mia@example.com", "pw-mia-123"))
    reader = django_user_model.objects.create_user("rob", "rob@example.com", "pw-rob-123")
    enable(manager)
    fresh.state.configure(spend=9)  # $1 left, below $5
    process = processes.worker()
    others = [read_balance_from_another_process(15) for _ in range(2)]
    read_balance_in_threads(6, 10)
    for other in others:
        assert other.wait(timeout=60) == 0
    wait_for(lambda: charges(fresh) == [2500], 20, f"no charge:\n{process.output()}", process)
    wait_for(lambda: AutoTopup.objects.get().in_flight_key == "", 20, f"not settled:\n{process.output()}", process)
    # Back above the threshold: more reads charge nothing more.
    others = [read_balance_from_another_process(10) for _ in range(2)]
    read_balance_in_threads(4, 5)
    for other in others:
        assert other.wait(timeout=60) == 0
    assert charges(fresh) == [2500]
    assert AutoTopup.objects.get().armed
    # A new drop: one more charge.
    fresh.state.configure(spend=35 - 0.5)
    others = [read_balance_from_another_process(10) for _ in range(2)]
    read_balance_in_threads(4, 5)
    for other in others:
        assert other.wait(timeout=60) == 0
    wait_for(lambda: charges(fresh) == [2500, 2500], 20, f"no second charge:\n{process.output()}", process)
    wait_for(lambda: AutoTopup.objects.get().in_flight_key == "", 20, "not settled", process)
    attempts = list(TopupAttempt.objects.all())
    assert len(attempts) == 2
    assert {(a.source, a.user_id, a.status) for a in attempts} == {(Source.AUTO, manager.pk, Status.SUCCEEDED)}
    assert not TopupAttempt.objects.filter(user=reader).exists()


@pytest.mark.django_db(transaction=True)
def test_declines_with_the_worker_turn_it_off(fresh, processes, manager):
    fresh.state.configure(mode="decline", spend=9)
    enable(manager)
    process = processes.worker()
    for failures in (1, 2, 3):
        get_balance()
        wait_for(
            lambda f=failures: AutoTopup.objects.get().failures_in_a_row == f,  # type: ignore[misc]
            20,
            f"failure {failures} not counted:\n{process.output()}",
            process,
        )
    row = AutoTopup.objects.get()
    assert not row.enabled and "declined" in row.disabled_reason
    get_balance()
    assert TopupAttempt.objects.filter(source=Source.AUTO).count() == 3
    assert charges(fresh) == []


@pytest.mark.django_db(transaction=True)
def test_an_unknown_outcome_is_settled_by_the_worker(fresh, processes, manager):
    fresh.state.configure(delay=2.0, spend=9)  # charged, answered after the site stopped waiting
    enable(manager)
    process = processes.worker()
    get_balance()
    attempt = wait_for(
        lambda: TopupAttempt.objects.filter(source=Source.AUTO, first_status=Status.UNKNOWN).first(),
        20,
        f"no unknown attempt:\n{process.output()}",
        process,
    )
    assert AutoTopup.objects.get().in_flight_key == attempt.idempotency_key  # still under way
    get_balance()  # nothing new is claimed meanwhile
    fresh.state.configure(delay=0)
    wait_for(
        lambda: TopupAttempt.objects.get(pk=attempt.pk).status == Status.SUCCEEDED,
        30,
        f"not settled:\n{process.output()}",
        process,
    )
    wait_for(lambda: AutoTopup.objects.get().in_flight_key == "", 10, "claim not released", process)
    assert charges(fresh) == [2500]
    settled = TopupAttempt.objects.get(pk=attempt.pk)
    assert settled.settled_by == "background" and settled.outcome_shown
    assert TopupAttempt.objects.count() == 1


# --- the chat's stopped message, and the admin ---------------------------------------------------


@pytest.mark.django_db
def test_the_stopped_message_says_an_auto_top_up_is_on_its_way(fresh, manager, client):
    fresh.state.configure(spend=10)  # nothing left
    enable(manager)
    client.force_login(manager)
    body = client.post("/ui/messages", {"text": "go on"}, HTTP_ACCEPT="application/json").json()
    stopped = body["messages"][-1]["html"]
    assert "No credits available" in stopped
    assert "An automatic top-up of $25 is on its way." in stopped
    assert "data-chat-auto-topup" in stopped
    assert AutoTopup.objects.get().in_flight_key  # claimed by the agent's own reading
    run_claimed()
    page = client.get("/ui/").content.decode()
    assert "is on its way" not in page  # landed: the page offers Continue once it sees the balance


@pytest.mark.django_db
def test_without_an_auto_top_up_the_stopped_message_says_nothing_of_it(fresh, manager, client):
    fresh.state.configure(spend=10)
    client.force_login(manager)
    body = client.post("/ui/messages", {"text": "go on"}, HTTP_ACCEPT="application/json").json()
    assert "automatic top-up" not in body["messages"][-1]["html"]


@pytest.mark.django_db
def test_the_admin_edits_the_setting_with_the_same_rules(admin_client, admin_user):
    url = "/admin/credits/autotopup/add/"
    form = {"enabled": "on", "threshold_cents": 500, "amount_cents": 2500, "monthly_cap_cents": 1000}
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert "at least the amount of one top-up" in response.content.decode()
    response = admin_client.post(url, {**form, "amount_cents": 2550, "monthly_cap_cents": 10000})
    assert response.status_code == 200 and not AutoTopup.objects.exists()
    response = admin_client.post(url, {**form, "monthly_cap_cents": 10000})
    assert response.status_code == 302
    row = AutoTopup.objects.get()
    assert row.enabled and row.enabled_by == admin_user and row.monthly_cap_cents == 10000
    assert admin_client.get(url).status_code == 403  # one setting for the site
    assert admin_client.get(f"/admin/credits/autotopup/{row.pk}/delete/").status_code == 403
    assert admin_client.get(f"/admin/credits/autotopup/{row.pk}/change/").status_code == 200


@pytest.mark.django_db
def test_a_reading_asked_for_before_the_charge_ended_is_stale(fresh, manager):
    from django.utils import timezone

    enable(manager)
    before = timezone.now()
    assert autotopup.observe(1.0, before) == "claimed"
    run_claimed()  # landed: $35, armed again
    assert AutoTopup.objects.get().armed
    # A low reading asked for before the charge landed, handled only now: no second charge.
    assert autotopup.observe(1.0, before) == "stale"
    assert autotopup.observe(1.0) == "claimed"  # a new reading that is low: a new drop
