"""Signals for host sites.

``topup_succeeded(sender=TopupAttempt, attempt=..., balance=dict | None)`` after the landing
granted the credits; ``topup_failed(sender=TopupAttempt, attempt=...)`` after any other
outcome. They are sent robustly: a failing receiver is logged and never changes the answer.
"""

from django.dispatch import Signal

topup_succeeded = Signal()
topup_failed = Signal()

# ``auto_topup_disabled(sender=AutoTopup, auto_topup=..., reason=str)`` after three automatic
# top-ups in a row failed and the site turned auto top-up off (a host may send mail).
auto_topup_disabled = Signal()
