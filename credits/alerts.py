"""The warning before the credits run out, and the notices that carry it to the team.

**Running low.** Every fresh balance reading (``balance_read``, and a top-up's first answer
that carries the balance) is held against two lines: the remaining credits below
``LOW_BALANCE_DOLLARS``, or the forecast (:mod:`credits.forecast`, the last day's samples)
below ``WARN_HOURS``. The site's one :class:`AlertState` row says whether it is low now. The
crossing is one conditional UPDATE from ``low=False`` in the transaction that writes the
notice, so however many server processes and workers see the same drop, one notice is sent.
Only a reading clearly above both lines again (25 % more credits and hours, such as after a
top-up) ends the warning and re-arms it; a reading asked for before the last change is stale
and changes nothing. The chat shows the warning above its message box while it lasts
(``{% credits_warning %}``; ``GET credits`` carries it as ``warning``).

**Notices.** A :class:`Notice` is written for the crossing, for an auto top-up turned off after
failures (``auto_topup_disabled``) and for an attempt flagged for an operator
(``attempt_flagged``). The background worker delivers it, never a request: an email (plain and
HTML, with a link to the credits page) to ``ALERT_EMAILS`` and the people who may add credits,
and a JSON POST to ``ALERT_WEBHOOK_URL`` signed with ``ALERT_WEBHOOK_SECRET``. A channel that
fails is tried again after ``ALERT_RETRY_SECONDS`` (doubled each time) up to ``ALERT_TRIES``
tries, then recorded as failed with the reason. A try first moves the notice's ``due_at`` past
its own end (a lease), so a worker killed mid-try leaves a notice that is taken up again: a
reading (the sampler reads every few minutes) looks for overdue notices at most once a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import router, transaction
from django.db.models import Q, QuerySet
from django.dispatch import receiver
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from .client import USER_AGENT
from .codes import Delivery, NoticeKind
from .conf import CreditsSettings, get_settings
from .db import enqueue_with_the_commit, task
from .forecast import RATE_LOOKBACK, Sample, forecast
from .models import AlertState, AutoTopup, Notice, TopupAttempt
from .permissions import people_to_tell
from .samples import as_samples, history
from .signals import attempt_flagged, auto_topup_disabled, balance_read, topup_succeeded
from .words import format_money, msg_auto_topup_off, msg_needs_operator, msg_running_low, msg_running_low_notice

__all__ = [
    "SIGNATURE_HEADER",
    "Reading",
    "current_warning",
    "deliver",
    "deliver_notice",
    "deliver_overdue",
    "notify",
    "observe",
    "recipients",
    "sign",
]

logger = logging.getLogger("credits")

SIGNATURE_HEADER = "X-Reef-Signature-256"  # "sha256=<hex HMAC-SHA256 of the body>"
REARM = 1.25  # a warning ends when the credits and the hours left are this far above the lines
OVERDUE_AFTER = timedelta(minutes=2)  # a try due this long ago was lost (a worker killed mid-try)
OVERDUE_CHECK_SECONDS = 60.0  # a process looks for lost tries at most this often
NO_WEBHOOK = "No webhook URL is set (CREDITS['ALERT_WEBHOOK_URL'])."
CHANNELS = ("email", "webhook")
PAGE_URL_NAME = "credits_pages:page"


# --- Running low -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """What one balance reading says about running low."""

    remaining: float
    hours_left: float | None  # None: no forecast (too little history, or no spend)
    low: bool  # below a line
    clear: bool  # clearly above both lines: a warning ends

    @property
    def warning(self) -> str:
        return msg_running_low(self.remaining, self.hours_left)


def assess(remaining: float, samples: list[Sample], at: datetime, conf: CreditsSettings) -> Reading:
    """Hold ``remaining`` (read at ``at``) and the forecast from ``samples`` against the lines."""
    hours_left = forecast(samples, at, remaining).hours_left
    low = remaining < conf.LOW_BALANCE_DOLLARS or (hours_left is not None and hours_left < conf.WARN_HOURS)
    clear = remaining >= conf.LOW_BALANCE_DOLLARS * REARM and (
        hours_left is None or hours_left >= conf.WARN_HOURS * REARM
    )
    return Reading(remaining, hours_left, low, clear)


def observe(balance: dict[str, float], asked: datetime, *, may_cross: bool = True) -> Reading | None:
    """Hold a fresh reading (asked for at ``asked``) against the lines; on the crossing, claim
    it and write the notice (one process of however many); clearly above, end the warning.
    Two queries (the state row, the last day's samples), and a write only when something changed.
    ``may_cross=False`` (a top-up's answer: the credits went up) only ends a warning: one query
    while there is none. None when the reading changes nothing (stale, or nothing to end)."""
    state = AlertState.objects.filter(pk=AlertState.SINGLETON_PK).values("low", "text", "changed_at").first()
    if state is not None and state["changed_at"] is not None and asked < state["changed_at"]:
        return None  # begun before the last change (a top-up's reading, say): stale
    low_now = bool(state and state["low"])
    if not may_cross and not low_now:
        return None
    remaining = float(balance["remaining"])
    seen = as_samples(history(asked - RATE_LOOKBACK))
    seen.append(Sample(at=asked, credits=float(balance["credits"]), spend=float(balance["spend"]), remaining=remaining))
    reading = assess(remaining, seen, asked, get_settings())
    fresh = Q(changed_at__isnull=True) | Q(changed_at__lte=asked)
    if reading.low and not low_now and may_cross:
        _cross(reading, asked, fresh)
    elif reading.clear and low_now:
        AlertState.objects.filter(fresh, pk=AlertState.SINGLETON_PK, low=True).update(
            low=False, text="", changed_at=asked
        )
    elif low_now and state is not None and state["text"] != reading.warning:
        AlertState.objects.filter(pk=AlertState.SINGLETON_PK, low=True).update(text=reading.warning)
    return reading


def _cross(reading: Reading, asked: datetime, fresh: Q) -> None:
    """Claim the crossing (one conditional UPDATE, or the row's first INSERT) and write its
    notice in the same transaction: one notice however many processes see the drop."""
    using = router.db_for_write(AlertState)
    with transaction.atomic(using=using):
        rows = AlertState.objects.using(using)
        claimed = rows.filter(fresh, pk=AlertState.SINGLETON_PK, low=False).update(
            low=True, text=reading.warning, changed_at=asked
        )
        if not claimed:
            _row, claimed = rows.get_or_create(
                pk=AlertState.SINGLETON_PK, defaults={"low": True, "text": reading.warning, "changed_at": asked}
            )
        if claimed:
            notify(
                NoticeKind.RUNNING_LOW,
                msg_running_low_notice(reading.remaining, reading.hours_left),
                remaining=reading.remaining,
                hours_left=reading.hours_left,
            )


def _warning_text() -> QuerySet[AlertState, str]:
    """The warning's text while the site is running low: a query by primary key."""
    return AlertState.objects.filter(pk=AlertState.SINGLETON_PK, low=True).values_list("text", flat=True)


def current_warning() -> str:
    """The chat's warning while the site is running low, else "" (one query by primary key)."""
    return _warning_text().first() or ""


async def acurrent_warning() -> str:
    """:func:`current_warning` for async views."""
    return await _warning_text().afirst() or ""


# --- Notices -----------------------------------------------------------------------------------


def notify(kind: str, text: str, *, remaining: float | None = None, hours_left: float | None = None) -> Notice:
    """Write a notice and queue its delivery with the commit of the caller's transaction. A
    channel with nowhere to go is skipped at once (no webhook URL); email is decided by the worker."""
    conf = get_settings()
    now = timezone.now()
    notice = Notice.objects.create(
        kind=kind,
        text=text[:500],
        remaining=remaining,
        hours_left=hours_left,
        webhook=Delivery.PENDING if conf.ALERT_WEBHOOK_URL else Delivery.SKIPPED,
        webhook_detail="" if conf.ALERT_WEBHOOK_URL else NO_WEBHOOK,
        due_at=now,
    )
    using = router.db_for_write(Notice)
    enqueue_with_the_commit(
        deliver_notice, (str(notice.pk),), using, f"notice {notice.pk}: its delivery could not be queued"
    )
    return notice


@task()
def deliver_notice(notice_id: str) -> str:
    """Deliver a notice on its channels still pending (a task of the background worker)."""
    return deliver(notice_id)


def deliver(notice_id: str) -> str:
    """One delivery try of a notice, if it is due: every channel still pending is tried once;
    one that fails is tried again later (the next try is queued) until ``ALERT_TRIES``."""
    conf = get_settings()
    now = timezone.now()
    lease = timedelta(seconds=conf.ALERT_WEBHOOK_TIMEOUT + float(getattr(settings, "EMAIL_TIMEOUT", None) or 30) + 30)
    if not Notice.objects.filter(pk=notice_id, due_at__lte=now).update(due_at=now + lease):
        return "not due"
    notice = Notice.objects.get(pk=notice_id)
    notice.tries += 1
    last = notice.tries >= conf.ALERT_TRIES
    if notice.email == Delivery.PENDING:
        notice.email, notice.email_detail = _outcome(_send_email(notice, conf), notice.tries, last)
    if notice.webhook == Delivery.PENDING:
        notice.webhook, notice.webhook_detail = _outcome(_post_webhook(notice, conf), notice.tries, last)
    pending = Delivery.PENDING in (notice.email, notice.webhook)
    wait = timedelta(seconds=conf.ALERT_RETRY_SECONDS * 2 ** (notice.tries - 1))
    notice.due_at = timezone.now() + wait if pending else None
    using = router.db_for_write(Notice)
    with transaction.atomic(using=using):
        notice.save(update_fields=["tries", "email", "email_detail", "webhook", "webhook_detail", "due_at"])
        if pending and deliver_notice.get_backend().supports_defer:
            again = deliver_notice.using(run_after=notice.due_at)
            enqueue_with_the_commit(again, (notice_id,), using, f"notice {notice_id}: the next try could not be queued")
    said = f"email {notice.email}, webhook {notice.webhook}"
    return f"{said}; next try at {notice.due_at:%H:%M:%S}" if pending and notice.due_at else said


def _outcome(result: tuple[str, str], tries: int, last: bool) -> tuple[str, str]:
    """A channel's try as it is recorded: a failure with tries left stays pending, with why."""
    status, detail = result
    if status != Delivery.FAILED or last:
        return status, detail[:500]
    return Delivery.PENDING, f"Try {tries} failed: {detail}"[:500]


_overdue_checked = 0.0


def deliver_overdue(now: datetime | None = None) -> int:
    """Queue the delivery of notices whose try was lost (due over two minutes ago: a worker
    killed mid-try, a queue that lost the task); how many. A try that is merely late finds its
    notice leased by the first and does nothing, so a duplicate is harmless."""
    now = now or timezone.now()
    overdue = list(Notice.objects.filter(due_at__lte=now - OVERDUE_AFTER).values_list("pk", flat=True)[:100])
    using = router.db_for_write(Notice)
    for notice_id in overdue:
        enqueue_with_the_commit(deliver_notice, (str(notice_id),), using, f"notice {notice_id}: could not be queued")
    return len(overdue)


def _deliver_overdue_now_and_then() -> None:
    global _overdue_checked
    if time.monotonic() - _overdue_checked < OVERDUE_CHECK_SECONDS:
        return
    _overdue_checked = time.monotonic()
    deliver_overdue()


# --- Channels ----------------------------------------------------------------------------------


def recipients(conf: CreditsSettings | None = None) -> list[str]:
    """``ALERT_EMAILS`` and the addresses of the people who may add credits, each once."""
    conf = conf or get_settings()
    seen: dict[str, str] = {}
    for address in [*conf.ALERT_EMAILS, *people_to_tell()]:
        seen.setdefault(address.lower(), address)
    return list(seen.values())


def page_link(conf: CreditsSettings) -> str:
    """The credits page's full address for an email (``SITE_URL`` and the page's path), or the
    site's address where the host did not mount the page; "" when neither is known."""
    try:
        path = reverse(PAGE_URL_NAME)
    except NoReverseMatch:
        path = "/"
    return f"{conf.SITE_URL.rstrip('/')}{path}" if conf.SITE_URL else ""


def _send_email(notice: Notice, conf: CreditsSettings) -> tuple[str, str]:
    if settings.EMAIL_BACKEND == "django.core.mail.backends.dummy.EmailBackend":
        return Delivery.SKIPPED, "No mail is set up (EMAIL_BACKEND is the dummy backend; reef_site: EMAIL_URL)."
    to = recipients(conf)
    if not to:
        return Delivery.SKIPPED, "Nobody to tell: no ALERT_EMAILS, and nobody who may add credits has an address."
    remaining = "" if notice.remaining is None else format_money(notice.remaining)
    context = {"notice": notice, "remaining": remaining, "link": page_link(conf)}
    message = EmailMultiAlternatives(
        subject=notice.text.splitlines()[0][:200],
        body=render_to_string("credits/email/notice.txt", context),
        to=to,
    )
    message.attach_alternative(render_to_string("credits/email/notice.html", context), "text/html")
    try:
        message.send()
    except Exception as exc:
        logger.warning("notice %s: the email could not be sent (%s: %s)", notice.pk, type(exc).__name__, exc)
        return Delivery.FAILED, f"{type(exc).__name__}: {exc}"
    return Delivery.DELIVERED, f"Sent to {len(to)} address(es)."


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(notice: Notice, conf: CreditsSettings) -> bytes:
    """The JSON a webhook receives: ``text`` (what Slack and the like show) and the fields."""
    fields: dict[str, Any] = {
        "text": notice.text,
        "kind": notice.kind,
        "notice": str(notice.pk),
        "at": notice.created_at.isoformat(),
        "remaining": notice.remaining,
        "hoursLeft": notice.hours_left,
        "creditsPage": page_link(conf) or None,
    }
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()


def _post_webhook(notice: Notice, conf: CreditsSettings) -> tuple[str, str]:
    if not conf.ALERT_WEBHOOK_URL:
        return Delivery.SKIPPED, NO_WEBHOOK
    body = webhook_body(notice, conf)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if conf.ALERT_WEBHOOK_SECRET:
        headers[SIGNATURE_HEADER] = sign(body, conf.ALERT_WEBHOOK_SECRET)
    try:
        answer = httpx.post(conf.ALERT_WEBHOOK_URL, content=body, headers=headers, timeout=conf.ALERT_WEBHOOK_TIMEOUT)
    except httpx.TimeoutException:
        reason = f"No answer within {conf.ALERT_WEBHOOK_TIMEOUT:g} s."
    except httpx.HTTPError as exc:  # the URL may hold a secret (Slack's do): never said
        reason = f"The receiver could not be reached ({type(exc).__name__})."
    else:
        if 200 <= answer.status_code < 300:
            return Delivery.DELIVERED, f"HTTP {answer.status_code}."
        reason = f"HTTP {answer.status_code}."
    logger.warning("notice %s: the webhook failed: %s", notice.pk, reason)
    return Delivery.FAILED, reason


# --- Receivers: never raise into the request or task that sent the signal ----------------------


def _robustly(what: str, work: Any, *args: Any, **kwargs: Any) -> None:
    try:
        work(*args, **kwargs)
    except Exception:
        logger.exception("notices: %s failed", what)


@receiver(balance_read, dispatch_uid="credits.alerts.balance_read")
def _on_balance_read(sender: Any, balance: dict[str, float], asked: datetime, **kwargs: Any) -> None:
    _robustly("a balance reading's check", observe, balance, asked)
    _robustly("the look for lost deliveries", _deliver_overdue_now_and_then)


@receiver(topup_succeeded, sender=TopupAttempt, dispatch_uid="credits.alerts.topup_succeeded")
def _on_topup_succeeded(
    sender: Any, attempt: TopupAttempt, balance: dict[str, float] | None = None, **kwargs: Any
) -> None:
    if balance is not None and not attempt.settled_by:  # a settlement's balance is a replay, as old as the first
        _robustly("a top-up's balance check", observe, balance, attempt.finished_at or timezone.now(), may_cross=False)


@receiver(auto_topup_disabled, sender=AutoTopup, dispatch_uid="credits.alerts.auto_topup_disabled")
def _on_auto_topup_disabled(sender: Any, auto_topup: AutoTopup, reason: str, **kwargs: Any) -> None:
    _robustly("the auto top-up's notice", notify, NoticeKind.AUTO_TOPUP_OFF, msg_auto_topup_off(reason))


@receiver(attempt_flagged, sender=TopupAttempt, dispatch_uid="credits.alerts.attempt_flagged")
def _on_attempt_flagged(sender: Any, attempt: TopupAttempt, **kwargs: Any) -> None:
    user = attempt.user.get_username() if attempt.user_id else "?"
    text = msg_needs_operator(attempt.amount_cents, user)
    _robustly("the operator's notice", notify, NoticeKind.NEEDS_OPERATOR, text)
