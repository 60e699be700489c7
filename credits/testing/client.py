"""The landing client's side of testing: a transport of the test's own, and the sandbox's spend."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from django.utils import timezone

from credits import client
from credits.conf import get_settings
from credits.signals import balance_read, send_robustly


@contextmanager
def override_transport(transport: httpx.AsyncBaseTransport | httpx.MockTransport) -> Iterator[None]:
    """Send every landing request through ``transport`` (e.g. ``httpx.MockTransport``) while the
    ``with`` block runs; then the one before is used again, and no pooled client is kept."""
    previous = client._use_transport(transport)
    try:
        yield
    finally:
        client._use_transport(previous, forget_clients=True)


def spend(amount_cents: int) -> dict[str, float] | None:
    """Spend credits through ``POST /api/reef/spend``, as the demo agent does (only the sandbox
    landing has it; the real one bills usage itself). Blocks the caller.

    Returns the balance the landing answered (``{"credits", "spend", "remaining"}``), or None
    when nothing was left to spend (402). Either way the site's cached balance follows (the
    header shows it), and the answer is a reading as ``credits.balance.read_balance``'s is
    (``balance_read``: the history, the auto top-up, the running-low warning). Raises ``credits.balance.BalanceUnavailable`` when the
    landing refused the spend, answered without a balance or could not be reached, and, as
    ``read_balance`` does, ``client.LandingNotConfigured`` / ``client.LandingBusy``.
    """
    from credits import balance as balances
    from credits.autotopup import observe

    asked = timezone.now()
    try:
        response = client.call(
            "POST", "/api/reef/spend", {"amountCents": amount_cents}, None, get_settings().BALANCE_TIMEOUT
        )
    except (client.LandingNotConfigured, client.LandingBusy):
        raise
    except client.LandingError as exc:
        raise balances.BalanceUnavailable(str(exc)) from exc
    if response.status == 402:
        balances.remember_balance(None)  # the next read is fresh
        observe(0.0, asked)
        return None
    if not 200 <= response.status < 300:
        balances.remember_balance(None)
        raise balances.BalanceUnavailable(f"the landing refused to record the spend ({response.status})")
    after = balances.parse_balance(response.data)
    balances.remember_balance(after)
    if after is None:
        raise balances.BalanceUnavailable(f"the landing answered {response.status} to the spend without a balance")
    send_robustly(balance_read, None, balance=after, asked=asked)  # a reading: the history, the rules
    return after
