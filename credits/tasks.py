"""Background work, through Django's Tasks framework (the ``django-tasks`` backport).

Every claimed attempt gets one settlement task, due when its landing call can no longer be
running. The task does nothing if the attempt already has its answer; otherwise it settles
it and, while the landing still gives no definite answer, queues itself again for the next
try (with backoff). The host chooses the backend in ``TASKS``; with the database backend on
the attempts' own database the task is queued in the claim's transaction, with any other
backend right after the commit (a crash in between is caught by ``settle_topups``).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from .models import SettledBy, TopupAttempt

logger = logging.getLogger("credits")


@task()
def settle_topup(attempt_id: str) -> str:
    """Settle one attempt if it is due; queue the next try while its outcome stays unknown."""
    from . import settlement

    attempt = TopupAttempt.objects.filter(pk=attempt_id).first()
    if attempt is None or attempt.is_settled:
        return attempt.status if attempt is not None else "missing"
    if attempt.settle_at is None or attempt.settle_at <= timezone.now():
        attempt = settlement.settle(attempt, SettledBy.BACKGROUND)
    if not attempt.is_settled:
        schedule_settlement(attempt)
    return str(attempt.status)


def schedule_settlement(attempt: TopupAttempt) -> None:
    """Queue :func:`settle_topup` for ``attempt`` at its ``settle_at``."""
    backend = settle_topup.get_backend()
    if not backend.supports_defer:
        # Nothing can wait in this backend (an immediate one would settle a call still in
        # flight): ``settle_topups`` and the next top-up settle instead; a check warns.
        return
    deferred = settle_topup.using(run_after=attempt.settle_at)
    if _queues_in_the_database(backend, attempt):
        deferred.enqueue(str(attempt.pk))
    else:
        transaction.on_commit(lambda: _enqueue_logged(deferred, str(attempt.pk)), using=attempt._state.db)


def _queues_in_the_database(backend: object, attempt: TopupAttempt) -> bool:
    try:
        from django_tasks_db.backend import DatabaseBackend
        from django_tasks_db.models import DBTaskResult
    except ImportError:  # pragma: no cover - the database backend is not installed
        return False
    from django.db import router

    return isinstance(backend, DatabaseBackend) and router.db_for_write(DBTaskResult) == (
        attempt._state.db or "default"
    )


def _enqueue_logged(deferred: object, attempt_id: str) -> None:
    try:
        deferred.enqueue(attempt_id)  # type: ignore[attr-defined]
    except Exception:
        logger.exception("top-up %s: its settlement could not be queued; settle_topups will settle it", attempt_id)
