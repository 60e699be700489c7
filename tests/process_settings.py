"""Settings for the site and the worker when a test runs them as processes of their own.

The test process passes its own database, token and CREDITS through the environment, so
every process works on the same test database and landing. ``REEF_TEST_DIE_BEFORE_LANDING``
makes a site process kill itself with SIGKILL at the moment it would send a top-up to the
landing: after the claim, before the call. ``REEF_TEST_CACHE_URL`` puts the cache, and the
sessions with it (cached_db), where production has them (Redis).
"""

import json
import os
import signal

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

TEST_TOKEN = os.environ["REEF_TEST_TOKEN"]
CREDITS = json.loads(os.environ["REEF_TEST_CREDITS"])
DATABASES["default"]["NAME"] = os.environ["REEF_TEST_DATABASE"]
DATABASES["default"].pop("TEST", None)

if os.environ.get("REEF_TEST_CACHE_URL"):
    import environ

    CACHES = {"default": environ.Env.cache_url_config(os.environ["REEF_TEST_CACHE_URL"])}
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

if os.environ.get("REEF_TEST_DIE_BEFORE_LANDING"):
    import httpx

    from credits.testing import override_transport

    class _DieBeforeTopup(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/topup-credits"):
                os.kill(os.getpid(), signal.SIGKILL)
            return await super().handle_async_request(request)

    _DYING = override_transport(_DieBeforeTopup())  # kept: a collected override would end itself
    _DYING.__enter__()
