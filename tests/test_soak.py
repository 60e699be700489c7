"""The fault-injection soak at a small size (``bench/soak.py`` runs it at a large one).

Real processes on loopback: the site under gunicorn, two db_workers and the sandbox landing,
which answers late, hangs up after charging and declines at random, and is restarted by
SIGKILL during the load. After settlement nothing is unsettled and the money adds up.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak import run_soak

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_small_soak_settles_everything_and_the_money_adds_up(tmp_path: Path) -> None:
    report = run_soak(
        topups=100, users=12, clients=6, seed=7, workdir=tmp_path, restarts=3, time_limit=60, settle_limit=60
    )
    print(f"\nsoak (small):\n{report.table()}")  # shown by -rA
    assert report.failures == [], f"{report.table()}\nlogs in {tmp_path}"
    assert report.unsettled == 0
    assert report.charges == report.succeeded > 0
    assert report.charged_cents == report.succeeded_cents
    assert report.credits_end_cents == report.credits_start_cents + report.charged_cents
    # The soak really injected every kind of fault, and really restarted the landing.
    assert all(report.faults.get(kind, 0) > 0 for kind in ("late", "drop", "decline")), report.faults
    assert report.restarts == 3
    assert report.unknown_at_first > 0
