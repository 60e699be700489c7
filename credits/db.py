"""Giving the request's database connection back before a long wait on the landing.

Under ASGI a request's database work runs in a thread that keeps its connection until the
request ends. An async view that then waits on the landing for seconds would keep a pooled
connection idle all that time, and twenty such waits would empty a pool of ten: page loads
would queue behind the landing after all. Before such a wait the connection goes back to the
pool (only where one is configured: a persistent connection is worth keeping).
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.db import connections


def give_back() -> None:
    """Return this thread's pooled connections (in no transaction) to their pools."""
    for connection in connections.all(initialized_only=True):
        pooled = bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))
        if pooled and not connection.in_atomic_block:
            connection.close()  # returns it to the pool


async def give_back_connections() -> None:
    """Return this request's pooled connections, from the thread that holds them."""
    await sync_to_async(give_back)()
