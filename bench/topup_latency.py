"""How much time the proxy adds to a top-up, and how many it handles a second.

Runs the site in-process (Django's test client, SQLite file database) against the sandbox
landing over real HTTP on loopback, and compares with calling the landing directly.

    .venv/bin/python bench/topup_latency.py [--n 300]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()

    token = secrets.token_urlsafe(24)
    workdir = tempfile.mkdtemp(prefix="reef-bench-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="reef_site.settings",
        SECRET_KEY=secrets.token_urlsafe(40),
        DATABASE_URL=f"sqlite:///{workdir}/bench.sqlite3",
        VERS_AUTH_TOKEN=token,
        ALLOWED_HOSTS="testserver",
    )
    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")

    django.setup()
    import logging

    import httpx
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from credits.testing import SandboxLanding

    logging.getLogger("credits").setLevel(logging.ERROR)
    call_command("migrate", verbosity=0)
    with SandboxLanding(token) as landing:
        settings.CREDITS = {
            **settings.CREDITS,
            "LANDING_URL": landing.url,
            "MAX_ATTEMPTS_PER_HOUR": 10**9,
            "MAX_CENTS_PER_DAY": 10**12,
        }
        user = get_user_model().objects.create_user("bench")
        client = Client()
        client.force_login(user)

        direct: list[float] = []
        with httpx.Client(base_url=landing.url, headers={"Authorization": f"Bearer {token}"}) as http:
            for i in range(args.n):
                started = time.perf_counter()
                http.post("/api/reef/topup-credits", json={"amountCents": 500}, headers={"Idempotency-Key": f"d{i}"})
                direct.append(time.perf_counter() - started)

        proxied: list[float] = []
        for i in range(args.n):
            started = time.perf_counter()
            response = client.post(
                "/ui/api/topup-credits",
                data='{"amountCents": 500}',
                content_type="application/json",
                headers={"Idempotency-Key": f"p{i}"},
            )
            proxied.append(time.perf_counter() - started)
            assert response.status_code == 200, response.content

        replayed: list[float] = []
        for _ in range(args.n):
            started = time.perf_counter()
            client.post(
                "/ui/api/topup-credits",
                data='{"amountCents": 500}',
                content_type="application/json",
                headers={"Idempotency-Key": "p0"},
            )
            replayed.append(time.perf_counter() - started)

    def line(name: str, values: list[float]) -> str:
        ms = [v * 1000 for v in values]
        return (
            f"{name:<22} p50 {statistics.median(ms):6.2f} ms   p95 {percentile(ms, 95):6.2f} ms   "
            f"{len(ms) / sum(values):7.0f} /s"
        )

    print(f"{args.n} top-ups each, sandbox landing over loopback HTTP, SQLite")
    print(line("landing directly", direct))
    print(line("through the proxy", proxied))
    print(line("replayed (same key)", replayed))
    overhead = statistics.median(proxied) - statistics.median(direct)
    print(f"proxy overhead (p50): {overhead * 1000:.2f} ms")


if __name__ == "__main__":
    main()
