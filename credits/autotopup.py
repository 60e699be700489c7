"""The auto top-up rule (docs/contract.md section 7).

When the site learns the balance from the landing (:func:`observe`, also on the
``balance_read`` signal that :mod:`credits.balance` sends: a balance refresh, a
task that ran out of credits, a successful top-up's answer) and ``remaining`` is below the
threshold, one drop is claimed on the singleton :class:`~credits.models.AutoTopup` row with
one conditional UPDATE (enabled, armed, nothing in flight), and :func:`run_auto_topup`
is queued in the same transaction. The task (:func:`charge`) runs the ordinary top-up flow
under the key made at claim time, with source ``auto``, in the name of the user who last
turned it on: claims, limits, audit and settlement are shared, and a crash re-sends the same
key (settlement), never a second charge.

Outcomes arrive through ``topup_succeeded``/``topup_failed`` (sent when an outcome is written,
also by the settlement worker): success clears the claim and the failure count; a decline or
an error counts a failure and arms the rule again; the third failure in a row turns it off,
with the reason, and sends ``auto_topup_disabled``. An unknown first answer keeps the claim
until settlement writes the definite outcome. A refusal by the flow itself (429 limits, 409
an earlier attempt not settled) charged nothing and counts as a failure too, so a rule that
can never charge turns itself off instead of trying forever; 409 ``earlier_topup_succeeded``
(credits were added by an earlier attempt) and 409 ``earlier_in_progress`` (a top-up of
theirs is in flight) count as neither.

Nothing here may fail the request that triggered it: :func:`observe` logs instead.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import router, transaction
from django.db.models import Q, Sum
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from .codes import UNSETTLED, Code, Source, Status
from .conf import get_settings
from .db import enqueue_with_the_commit, task
from .models import AutoTopup, TopupAttempt
from .signals import auto_topup_disabled, balance_read, send_robustly, topup_failed, topup_succeeded
from .topups import request_topup

logger = logging.getLogger("credits")

PERMISSION = "credits.manage_auto_topup"
FAILURES_TO_DISABLE = 3
STALE_MARGIN_SECONDS = 60  # a claim with no attempt this long after the flow's deadline was lost
MAX_CENTS = 2_147_483_647  # what the database's positive integer columns hold


def get_setting() -> AutoTopup:
    """The site's one setting, made with the defaults (off) the first time."""
    row, _created = AutoTopup.objects.get_or_create(pk=AutoTopup.SINGLETON_PK)
    return row


def month_start(now: datetime | None = None) -> datetime:
    local = timezone.localtime(now or timezone.now())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _month_sum(statuses: Q) -> int:
    total = (
        TopupAttempt.objects.filter(source=Source.AUTO, created_at__gte=month_start())
        .filter(statuses)
        .aggregate(total=Sum("amount_cents"))["total"]
    )
    return int(total or 0)


def spent_this_month() -> int:
    """Cents of automatic top-ups that went through this calendar month."""
    return _month_sum(Q(status=Status.SUCCEEDED))


def committed_this_month() -> int:
    """Cents that went through, or may have (outcome not known yet): what the cap counts."""
    return _month_sum(Q(status=Status.SUCCEEDED) | Q(status__in=UNSETTLED))


def state(user: Any) -> dict[str, Any]:
    """The JSON of ``GET auto-topup``."""
    row = get_setting()
    return {
        "enabled": row.enabled,
        "thresholdCents": row.threshold_cents,
        "amountCents": row.amount_cents,
        "monthlyCapCents": row.monthly_cap_cents,
        "spentThisMonthCents": spent_this_month(),
        "canManage": user.has_perm(PERMISSION),
        "disabledReason": row.disabled_reason or None,
    }


def update(
    user: AbstractBaseUser, *, enabled: bool, threshold_cents: int, amount_cents: int, monthly_cap_cents: int
) -> AutoTopup:
    """Store a manager's (already validated) setting. Turning it on makes ``user`` the one the
    charges are made for, clears the failures and the reason, and arms it."""
    get_setting()
    with transaction.atomic(using=router.db_for_write(AutoTopup)):
        row = AutoTopup.objects.select_for_update().get(pk=AutoTopup.SINGLETON_PK)
        if enabled and not row.enabled:
            row.enabled_by_id = user.pk  # type: ignore[attr-defined]
            row.failures_in_a_row = 0
            row.disabled_reason = ""
            row.disabled_at = None
            row.armed = True
        row.enabled = enabled
        row.threshold_cents = threshold_cents
        row.amount_cents = amount_cents
        row.monthly_cap_cents = monthly_cap_cents
        row.save()
    return row


def on_its_way() -> int | None:
    """The cents of an automatic top-up under way now, or None (for the chat's stopped message)."""
    row = AutoTopup.objects.filter(pk=AutoTopup.SINGLETON_PK, enabled=True).exclude(in_flight_key="").first()
    if row is None:
        return None
    return row.in_flight_cents or row.amount_cents


# --- the trigger -------------------------------------------------------------------------


def observe(remaining: float, read_at: datetime | None = None) -> str:
    """The site has just read ``remaining`` dollars from the landing (asked at ``read_at``,
    default now): arm, claim or nothing. A reading asked for before the last charge ended is
    stale (it may not show that charge) and is ignored.

    Never raises (it runs in the request that read the balance); returns what it did, for tests.
    """
    try:
        return _observe(remaining, read_at or timezone.now())
    except Exception:
        logger.exception("auto top-up: the balance reading could not be handled")
        return "failed"


def _observe(remaining: float, read_at: datetime) -> str:
    row = (
        AutoTopup.objects.filter(pk=AutoTopup.SINGLETON_PK)
        .values(
            "enabled",
            "armed",
            "in_flight_key",
            "in_flight_since",
            "threshold_cents",
            "amount_cents",
            "monthly_cap_cents",
            "enabled_by_id",
            "released_at",
        )
        .first()
    )
    if row is None or not row["enabled"]:
        return "off"
    fresh = Q(released_at__isnull=True) | Q(released_at__lt=read_at)
    if row["released_at"] is not None and read_at <= row["released_at"]:
        return "stale"
    remaining_cents = round(remaining * 100)
    if remaining_cents >= row["threshold_cents"]:
        if not row["armed"] and not row["in_flight_key"]:
            # The balance is back up: the next drop may fire (not while a charge is under way,
            # which a reading taken before it landed must not re-arm behind its back).
            AutoTopup.objects.filter(fresh, pk=AutoTopup.SINGLETON_PK, armed=False, in_flight_key="").update(armed=True)
            return "armed"
        return "above"
    if row["in_flight_key"]:
        _release_if_stale(row["in_flight_key"], row["in_flight_since"])
        return "in_flight"
    if not row["armed"]:
        return "fired"
    if row["enabled_by_id"] is None:
        return "nobody"
    if committed_this_month() + row["amount_cents"] > row["monthly_cap_cents"]:
        return "cap"
    key = f"auto-{uuid.uuid4().hex}"
    using = router.db_for_write(AutoTopup)
    with transaction.atomic(using=using):
        drop = AutoTopup.objects.filter(fresh, pk=AutoTopup.SINGLETON_PK, enabled=True, armed=True, in_flight_key="")
        claimed = drop.update(
            armed=False, in_flight_key=key, in_flight_cents=row["amount_cents"], in_flight_since=timezone.now()
        )
        if not claimed:
            return "lost"  # another reading claimed this drop
        schedule_auto_topup(key, using)
    logger.info("auto top-up %s: claimed at remaining=%s cents", key, remaining_cents)
    return "claimed"


def _release_if_stale(key: str, since: datetime | None) -> None:
    """A claim whose task never made an attempt (its enqueue was lost, or the worker died
    before the flow began) is let go once the flow could no longer be running."""
    conf = get_settings()
    limit = timedelta(seconds=conf.TIMEOUT * 2 + conf.PENDING_GRACE_SECONDS + STALE_MARGIN_SECONDS)
    if since is None or since > timezone.now() - limit:
        return
    if TopupAttempt.objects.filter(source=Source.AUTO, idempotency_key=key).exists():
        return  # an attempt exists: settlement will say how it ended
    if _release(key, armed=True):
        logger.warning("auto top-up %s: claimed but never charged; released", key)


def _release(key: str, **changes: Any) -> int:
    return AutoTopup.objects.filter(pk=AutoTopup.SINGLETON_PK, in_flight_key=key).update(
        in_flight_key="", in_flight_cents=None, in_flight_since=None, released_at=timezone.now(), **changes
    )


# --- the background task ----------------------------------------------------------------


def charge(key: str) -> str:
    """Run the ordinary top-up flow for the drop claimed under ``key`` (the task's body)."""
    row = AutoTopup.objects.filter(pk=AutoTopup.SINGLETON_PK).select_related("enabled_by").first()
    if row is None or row.in_flight_key != key:
        return "superseded"
    user = row.enabled_by
    cents = row.in_flight_cents or row.amount_cents
    if not row.enabled or user is None:
        _release(key)  # nothing is charged while it is off; the drop stays spent
        return "disabled"
    if committed_this_month() + cents > row.monthly_cap_cents:
        _release(key)
        logger.info("auto top-up %s: not charged, the monthly cap would be passed", key)
        return "cap"
    try:
        answer = request_topup(user, cents, key=key, source=Source.AUTO)
    except Exception:
        logger.exception("auto top-up %s: the top-up flow failed", key)
        if not _attempts(key).exists():
            _release(key, armed=True)
        return "failed"
    if _attempts(key).exclude(status=Status.REFUSED).exists():
        return str(answer.status)  # an outcome was (or will be, by settlement) written: the signals say
    # The flow refused before anything was sent: nothing was charged.
    code = answer.code
    if code == Code.EARLIER_TOPUP_SUCCEEDED:
        _release(key, failures_in_a_row=0)
        return code
    if code == Code.EARLIER_IN_PROGRESS:
        _release(key, armed=True)  # their own top-up is under way: the next low reading looks again
        return code
    _failed(key, answer.message or code)
    return code or str(answer.status)


def _attempts(key: str) -> Any:
    return TopupAttempt.objects.filter(source=Source.AUTO, idempotency_key=key)


@task()
def run_auto_topup(key: str) -> str:
    """Charge the automatic top-up claimed under ``key`` (:func:`charge`), in the background."""
    return charge(key)


def schedule_auto_topup(key: str, using: str = "default") -> None:
    """Queue :func:`run_auto_topup`: in the claim's transaction with the database backend on
    the same database, else right after the commit (a lost enqueue is released as stale)."""
    enqueue_with_the_commit(
        run_auto_topup, (key,), using, f"auto top-up {key} could not be queued; it is released once stale"
    )


# --- outcomes -----------------------------------------------------------------------------


@receiver(balance_read, dispatch_uid="credits.autotopup.balance_read")
def _on_balance_read(sender: Any, balance: dict[str, float], asked: datetime, **kwargs: Any) -> None:
    observe(balance["remaining"], asked)


@receiver(topup_succeeded, sender=TopupAttempt, dispatch_uid="credits.autotopup.succeeded")
def _on_succeeded(sender: Any, attempt: TopupAttempt, balance: dict[str, float] | None = None, **kwargs: Any) -> None:
    if attempt.source != Source.AUTO:
        return
    # Nobody clicked it: the next manual top-up need not be held back to announce it.
    TopupAttempt.objects.filter(pk=attempt.pk).update(outcome_shown=True)
    _release(attempt.idempotency_key, failures_in_a_row=0)
    if balance is not None and "remaining" in balance:
        observe(balance["remaining"])  # back above the threshold: armed for the next drop


@receiver(topup_failed, sender=TopupAttempt, dispatch_uid="credits.autotopup.failed")
def _on_failed(sender: Any, attempt: TopupAttempt, **kwargs: Any) -> None:
    if attempt.source != Source.AUTO or attempt.status in UNSETTLED:
        return  # unknown: settlement writes the definite outcome, and these signals come again
    TopupAttempt.objects.filter(pk=attempt.pk).update(outcome_shown=True)
    _failed(attempt.idempotency_key, attempt.error_message or attempt.get_status_display())


def _failed(key: str, message: str) -> None:
    """Count one failure of the charge under ``key``; the third in a row turns it off."""
    with transaction.atomic(using=router.db_for_write(AutoTopup)):
        row = AutoTopup.objects.select_for_update().filter(pk=AutoTopup.SINGLETON_PK, in_flight_key=key).first()
        if row is None:
            return  # counted already, or not the charge under way
        row.failures_in_a_row += 1
        row.in_flight_key, row.in_flight_cents, row.in_flight_since = "", None, None
        row.released_at = timezone.now()
        row.armed = True  # the next low reading tries again
        disabled = row.enabled and row.failures_in_a_row >= FAILURES_TO_DISABLE
        if disabled:
            row.enabled = False
            row.disabled_at = timezone.now()
            row.disabled_reason = (
                _("Turned off after %(count)d automatic top-ups in a row failed. The last one: %(error)s")
                % {"count": row.failures_in_a_row, "error": message}
            )[:500]
        row.save()
    logger.warning("auto top-up %s failed (%d in a row): %s", key, row.failures_in_a_row, message)
    if disabled:
        send_robustly(auto_topup_disabled, AutoTopup, auto_topup=row, reason=row.disabled_reason)
