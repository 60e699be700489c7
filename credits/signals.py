"""Signals for host sites.

``topup_succeeded(sender=TopupAttempt, attempt=..., balance=dict | None)`` after the landing
granted the credits; ``topup_failed(sender=TopupAttempt, attempt=...)`` after any other
outcome. They are sent robustly: a failing receiver is logged and never changes the answer.
"""

from django.dispatch import Signal

topup_succeeded = Signal()
topup_failed = Signal()
