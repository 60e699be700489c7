"""The app's database plumbing: giving the request's connection back before a long wait on
the landing, and queueing a task with the transaction that needs it.

Under ASGI a request's database work runs in a thread that keeps its connection until the
request ends. An async view that then waits on the landing for seconds would keep a pooled
connection idle all that time, and twenty such waits would empty a pool of ten: page loads
would queue behind the landing after all. Before such a wait the connection goes back to the
pool (only where one is configured: a persistent connection is worth keeping).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections, router, transaction
from django.utils import timezone
from django_tasks import task
from django_tasks.base import Task

from .models import Schedule

__all__ = [
    "Task",
    "chain_next",
    "chain_start",
    "enqueue_with_the_commit",
    "give_back",
    "give_back_connections",
    "task",
]

logger = logging.getLogger("credits")


def give_back() -> None:
    """Return this thread's pooled connections (in no transaction) to their pools."""
    for connection in connections.all(initialized_only=True):
        pooled = bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))
        if pooled and not connection.in_atomic_block:
            connection.close()  # returns it to the pool


async def give_back_connections() -> None:
    """Return this request's pooled connections, from the thread that holds them."""
    await sync_to_async(give_back)()


def enqueue_with_the_commit(deferred: Task[Any, Any], args: tuple[str, ...], using: str, failure: str) -> None:
    """Queue ``deferred(*args)`` in the caller's transaction where the task backend keeps its
    queue in that database (a crash cannot lose it), else right after the commit (logging
    ``failure`` if that fails; ``settle_topups`` or a stale claim's release then catch it)."""
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
    return isinstance(backend, DatabaseBackend) and router.db_for_write(DBTaskResult) == alias


# --- Chains of background tasks ----------------------------------------------------------------
# A chain is a task that queues its own next run (the settlement sweep, the balance sampler).
# Its Schedule row holds when the next link is due; a link goes ahead only if it moves that time
# on (one conditional UPDATE), so however many copies start, one chain lives.


def chain_next(link: Task[[str], Any], name: str, due: str, every: timedelta) -> bool:
    """For the link of chain ``name`` that was due at ``due``: if it is still the one due, move
    the schedule on by ``every`` and queue the next link (together), and return True; False when
    it is superseded (the caller then does nothing)."""
    using = router.db_for_write(Schedule)
    after = timezone.now() + every
    with transaction.atomic(using=using):
        if not Schedule.objects.using(using).filter(name=name, due_at=datetime.fromisoformat(due)).update(due_at=after):
            return False
        enqueue_with_the_commit(
            link.using(run_after=after), (after.isoformat(),), using, f"chain {name}: the next link could not be queued"
        )
    return True


def chain_start(link: Task[[str], Any], name: str, dead_after: timedelta, using: str, failure: str) -> bool:
    """Start chain ``name`` with ``link`` now unless one lives (its next link is due less than
    ``dead_after`` ago, or later); an older link left somewhere is superseded by the new one.
    Returns whether it started one; never with a backend that cannot run a task later (the
    chain would run back to back). ``failure`` is logged if the first link cannot be queued."""
    if not link.get_backend().supports_defer:
        return False
    now = timezone.now()
    with transaction.atomic(using=using):
        schedule = Schedule.objects.using(using).select_for_update()
        row, created = schedule.get_or_create(name=name, defaults={"due_at": now})
        if not created and row.due_at > now - dead_after:
            return False
        row.due_at = now
        row.save(using=using, update_fields=["due_at"])
        enqueue_with_the_commit(link.using(run_after=now), (now.isoformat(),), using, failure)
    return True
