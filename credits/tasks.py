"""The app's background tasks, under the names they were first queued by.

Each task lives beside the work it does (:func:`credits.settlement.settle_topup`,
:func:`credits.autotopup.run_auto_topup`); these names stay importable so that a task queued
before, as ``credits.tasks.<name>``, still runs.
"""

from __future__ import annotations

from .autotopup import run_auto_topup, schedule_auto_topup
from .settlement import settle_topup, sweep_settlements

__all__ = ["run_auto_topup", "schedule_auto_topup", "settle_topup", "sweep_settlements"]
