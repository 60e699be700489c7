"""Background work, through Django's Tasks framework (the ``django-tasks`` backport).

Every claimed attempt gets a settlement task, due when its landing call can no longer be
running; an unknown first answer, and every settlement try that gets no definite answer,
queue the next one at the attempt's new ``settle_at`` (with backoff). A task does nothing if
the attempt has its answer, or if a later schedule superseded it. The host chooses the
backend in ``TASKS``; with the database backend on the attempts' own database a task is
queued in the caller's transaction, with any other backend right after the commit (a crash in
between is caught by ``settle_topups``, or a stale auto top-up claim is released).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_tasks import task
from django_tasks.base import Task

from .models import SettledBy, TopupAttempt

logger = logging.getLogger("credits")


@task()
def settle_topup(attempt_id: str, due: str | None = None) -> str:
    """Settle one attempt if this task is still the one due for it (``due`` is the attempt's
    ``settle_at`` when the task was queued; a later schedule supersedes it)."""
    from . import settlement

    attempt = TopupAttempt.objects.filter(pk=attempt_id).first()
    if attempt is None or attempt.is_settled:
        return attempt.status if attempt is not None else "missing"
    if due is not None and (attempt.settle_at is None or datetime.fromisoformat(due) != attempt.settle_at):
        return "superseded"  # another task is queued for the attempt's next try
    if attempt.settle_at is not None and attempt.settle_at > timezone.now():
        schedule_settlement(attempt)  # woken early: wait for its time
        return str(attempt.status)
    return str(settlement.settle(attempt, SettledBy.BACKGROUND).status)


def schedule_settlement(attempt: TopupAttempt) -> None:
    """Queue :func:`settle_topup` for ``attempt`` at its ``settle_at``.

    Each new ``settle_at`` gets its own task, and a task runs only if the time it was queued
    for is still the attempt's ``settle_at``: one chain of tries per attempt, whoever moved it.
    """
    backend = settle_topup.get_backend()
    if not backend.supports_defer or attempt.settle_at is None:
        # Nothing can wait in this backend (an immediate one would settle a call still in
        # flight): ``settle_topups`` and the next top-up settle instead; a check warns.
        return
    _enqueue(
        settle_topup.using(run_after=attempt.settle_at),
        (str(attempt.pk), attempt.settle_at.isoformat()),
        attempt._state.db or "default",
        f"top-up {attempt.pk}: its settlement could not be queued; settle_topups will settle it",
    )


def _enqueue(deferred: Task[Any, Any], args: tuple[str, ...], using: str, failure: str) -> None:
    """Queue ``deferred(*args)`` in the caller's transaction where the backend keeps its queue
    in that database, else right after the commit (logging ``failure`` if that fails)."""
    if _queues_in_the_database(deferred.get_backend(), using):
        deferred.enqueue(*args)
        return

    def after_commit() -> None:
        try:
            deferred.enqueue(*args)
        except Exception:
            logger.exception(failure)

    transaction.on_commit(after_commit, using=using)


def _queues_in_the_database(backend: object, alias: str) -> bool:
    try:
        from django_tasks_db.backend import DatabaseBackend
        from django_tasks_db.models import DBTaskResult
    except ImportError:  # pragma: no cover - the database backend is not installed
        return False
    from django.db import router

    return isinstance(backend, DatabaseBackend) and router.db_for_write(DBTaskResult) == alias


@task()
def run_auto_topup(key: str) -> str:
    """Charge the automatic top-up claimed under ``key`` (see :mod:`credits.autotopup`)."""
    from . import autotopup

    return autotopup.charge(key)


def schedule_auto_topup(key: str, using: str = "default") -> None:
    """Queue :func:`run_auto_topup`: in the claim's transaction with the database backend on
    the same database, else right after the commit (a lost enqueue is released as stale)."""
    _enqueue(run_auto_topup, (key,), using, f"auto top-up {key} could not be queued; it is released once stale")
