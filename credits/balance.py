"""The team's balance from the landing, cached for a few seconds and shared by all users.

Public (a host may use these): :func:`get_balance`, :func:`aget_balance`, :func:`read_balance`,
:func:`cached_balance`, :func:`peek_balance`, :func:`last_topup_at` and
:class:`BalanceUnavailable`. The rest (``parse_balance``, ``remember_balance``, the cache key)
is the app's own and may change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.core.cache import caches
from django.db.models import Max, Q
from django.utils import timezone

from . import client
from .codes import Status
from .conf import get_settings
from .db import give_back_connections
from .exceptions import BalanceUnavailable, LandingBusy, LandingError, LandingNotConfigured
from .models import TopupAttempt
from .signals import balance_read, send_robustly
from .wire import LandingResponse, parse_balance

__all__ = [
    "BalanceUnavailable",
    "aget_balance",
    "cached_balance",
    "get_balance",
    "last_topup_at",
    "parse_balance",
    "peek_balance",
    "read_balance",
    "remember_balance",
]

logger = logging.getLogger(__name__)

CACHE_KEY = "credits:balance"


def get_balance() -> dict[str, float]:
    """The cached balance, or a fresh one from the landing.

    Raises ``LandingNotConfigured`` without a token, ``LandingBusy`` when too
    many landing calls are in flight, and ``BalanceUnavailable`` when the landing cannot be
    reached or answers badly. Never a made-up zero.
    """
    cached = caches[get_settings().BALANCE_CACHE_ALIAS].get(CACHE_KEY)
    return dict(cached) if cached is not None else read_balance()


def read_balance() -> dict[str, float]:
    """A fresh balance from the landing, past the cache (which it then holds): what
    :func:`get_balance` does on a miss, and what a task that spends credits needs. The auto
    top-up rule sees it. Raises as :func:`get_balance` does."""
    asked = timezone.now()
    with _landing_failures():
        balance = _balance_of(client.credits())
    remember_balance(balance)
    _observe(balance, asked)
    return balance


async def aget_balance() -> dict[str, float]:
    """:func:`get_balance` for async views: waiting on the landing holds no thread."""
    conf = get_settings()
    cache = caches[conf.BALANCE_CACHE_ALIAS]
    cached = await cache.aget(CACHE_KEY)
    if cached is not None:
        return dict(cached)
    asked = timezone.now()
    await give_back_connections()  # the wait below holds no database connection
    with _landing_failures():
        balance = _balance_of(await client.acredits())
    await cache.aset(CACHE_KEY, balance, conf.BALANCE_CACHE_SECONDS)
    await sync_to_async(_observe)(balance, asked)
    return balance


def cached_balance() -> dict[str, float] | None:
    """The cached balance without asking the landing; None when the cache holds none, or cannot
    be read (a cache that fails is no balance, not an error page)."""
    conf = get_settings()
    try:
        cached = caches[conf.BALANCE_CACHE_ALIAS].get(CACHE_KEY)
    except Exception:
        logger.warning("The balance cache cannot be read", exc_info=True)
        return None
    return parse_balance(cached)


def peek_balance() -> tuple[dict[str, float], datetime] | None:
    """:func:`cached_balance`, and a time it was read after (the cache keeps a balance
    ``BALANCE_CACHE_SECONDS`` at most); None when there is none."""
    balance = cached_balance()
    if balance is None:
        return None
    return balance, timezone.now() - timedelta(seconds=get_settings().BALANCE_CACHE_SECONDS)


def last_topup_at(since: datetime) -> datetime | None:
    """When the latest top-up that went through after ``since`` landed (answered at once, or
    settled later), by anyone on the team: the credits are shared. None when none did."""
    landed = TopupAttempt.objects.filter(Q(finished_at__gt=since) | Q(settled_at__gt=since), status=Status.SUCCEEDED)
    times = landed.aggregate(finished=Max("finished_at"), settled=Max("settled_at"))
    return max((t for t in times.values() if t is not None), default=None)


def _observe(balance: dict[str, float], asked: datetime) -> None:
    """A fresh reading from the landing, asked for at ``asked``: whoever listens (the auto
    top-up rule) looks at it; a failing receiver is logged, never raised."""
    send_robustly(balance_read, None, balance=balance, asked=asked)


@contextmanager
def _landing_failures() -> Iterator[None]:
    """``LandingNotConfigured`` and ``LandingBusy`` pass as they are; any other failure of the
    landing call becomes ``BalanceUnavailable``."""
    try:
        yield
    except (LandingNotConfigured, LandingBusy):
        raise
    except LandingError as exc:
        raise BalanceUnavailable(str(exc)) from exc


def _balance_of(response: LandingResponse) -> dict[str, float]:
    balance = parse_balance(response.data) if 200 <= response.status < 300 else None
    if balance is None:
        raise BalanceUnavailable(f"the landing answered {response.status} without a balance")
    return balance


def remember_balance(balance: dict[str, float] | None) -> None:
    """Store a balance the landing just gave, or forget the cached one so the next read is fresh."""
    conf = get_settings()
    cache = caches[conf.BALANCE_CACHE_ALIAS]
    if balance is None:
        cache.delete(CACHE_KEY)
    else:
        cache.set(CACHE_KEY, balance, conf.BALANCE_CACHE_SECONDS)
