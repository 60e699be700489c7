"""The landing client's side of testing: a transport of the test's own, and the sandbox's spend."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from credits import client
from credits.conf import get_settings


@contextmanager
def override_transport(transport: httpx.AsyncBaseTransport | httpx.MockTransport) -> Iterator[None]:
    """Send every landing request through ``transport`` (e.g. ``httpx.MockTransport``) while the
    ``with`` block runs; then the one before is used again, and no pooled client is kept."""
    previous = client._use_transport(transport)
    try:
        yield
    finally:
        client._use_transport(previous, forget_clients=True)


def spend(amount_cents: int) -> client.LandingResponse:
    """Spend credits through ``POST /api/reef/spend``, as the demo agent does (only the sandbox
    landing has it; the real one bills usage itself). Blocks the caller."""
    return client.call("POST", "/api/reef/spend", {"amountCents": amount_cents}, None, get_settings().BALANCE_TIMEOUT)
