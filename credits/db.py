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
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections, router, transaction
from django_tasks import task
from django_tasks.base import Task

__all__ = ["Task", "enqueue_with_the_commit", "give_back", "give_back_connections", "task"]

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
