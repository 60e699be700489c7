"""The gunicorn worker for reef_site: uvicorn's, running the ASGI application.

uvicorn_worker.UvicornWorker with these changes: no ASGI lifespan (Django does not speak
it, so uvicorn would log that at every start), no ``server: uvicorn`` header, and the
log filters that keep secrets and query strings out of the server's own log lines.

WhiteNoise answers static files with a synchronous file iterator, which Django's ASGI
handler reads in a thread, with a warning for every file. For the site's few small files
that is fine (a reverse proxy can serve /static/ itself: README, "Deploying"), so that one
warning is not repeated in the log.
"""

from __future__ import annotations

import warnings
from typing import Any

from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]  # no py.typed

from .logfilters import install_server_filters


class Worker(UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {**UvicornWorker.CONFIG_KWARGS, "lifespan": "off", "server_header": False}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        install_server_filters()
        warnings.filterwarnings(
            "ignore", message="StreamingHttpResponse must consume synchronous iterators", category=Warning
        )
