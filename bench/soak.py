"""The fault-injection soak at a large size: several hundred top-ups while the landing misbehaves.

Real processes on loopback only: the site under gunicorn, two db_workers, and the sandbox
landing as a process of its own that answers late, hangs up after charging, declines at
random and is restarted by SIGKILL during the load (see tests/soak.py). Runs on a throwaway
test database (SQLite by default; PostgreSQL with DATABASE_URL), prints the figures and
exits 1 if an invariant failed (the process logs are then kept and their folder printed).

    .venv/bin/python bench/soak.py [--topups 400 --users 50 --clients 8 --restarts 3 --seed 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topups", type=int, default=400)
    parser.add_argument("--users", type=int, default=None, help="default: one for every 8 top-ups")
    parser.add_argument("--clients", type=int, default=8, help="client threads sending at once")
    parser.add_argument("--restarts", type=int, default=3, help="sandbox restarts (SIGKILL) during the load")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--abandon", type=float, default=None, help="chance a client walks away from an open outcome (default 0.3)"
    )
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds the load may take at most")
    parser.add_argument("--settle-limit", type=float, default=120.0, help="seconds settlement may take at most")
    parser.add_argument("--keep", action="store_true", help="keep the process logs even when all is well")
    args = parser.parse_args()
    users = args.users or max(1, args.topups // 8)
    extra = {} if args.abandon is None else {"abandon": args.abandon}

    os.chdir(ROOT)  # the child processes run manage.py from here
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    from tests.soak import run_soak

    workdir = Path(tempfile.mkdtemp(prefix="reef-soak-"))
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    started = time.monotonic()
    try:
        report = run_soak(
            topups=args.topups,
            users=users,
            clients=args.clients,
            seed=args.seed,
            workdir=workdir,
            restarts=args.restarts,
            time_limit=args.time_limit,
            settle_limit=args.settle_limit,
            **extra,
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
    vendor = connection.vendor
    print(f"Fault-injection soak ({vendor}, {time.monotonic() - started:.0f} s in all)")
    print(report.table())
    if report.ok and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"process logs: {workdir}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
