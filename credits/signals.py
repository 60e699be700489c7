"""Signals for host sites.

``topup_succeeded(sender=TopupAttempt, attempt=..., balance=dict | None)`` after the landing
granted the credits; ``topup_failed(sender=TopupAttempt, attempt=...)`` after any other
outcome. They are sent robustly: a failing receiver is logged and never changes the answer.
"""

import logging
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger("credits")

topup_succeeded = Signal()
topup_failed = Signal()

# ``balance_read(sender=None, balance=dict, asked=datetime)`` after a fresh balance came from
# the landing (not the cache), asked for at ``asked``: the auto top-up rule looks at it.
balance_read = Signal()

# ``auto_topup_disabled(sender=AutoTopup, auto_topup=..., reason=str)`` after three automatic
# top-ups in a row failed and the site turned auto top-up off (a host may send mail).
auto_topup_disabled = Signal()

# ``attempt_flagged(sender=TopupAttempt, attempt=...)`` when an attempt has had no definite
# answer for ``OPERATOR_AFTER_SECONDS`` and is marked for an operator (once per attempt).
attempt_flagged = Signal()


def send_robustly(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """Send ``signal``; a receiver that fails is logged with its traceback and changes nothing."""
    for receiver, result in signal.send_robust(sender, **kwargs):
        if isinstance(result, Exception):
            about = ", ".join(f"{name}={value}" for name, value in kwargs.items())
            logger.error("signal receiver %r failed (%s)", receiver, about, exc_info=result)
