"""reef_site's middleware: the health check, JSON errors under the API prefix, and Django's,
WhiteNoise's and django-csp's middleware run on the event loop under ASGI.

Under ASGI, Django's MiddlewareMixin runs every ``process_request`` and ``process_response``
in a thread (``sync_to_async``) in case it blocks: a trip to a thread and back for each hook,
each costing more than the hook itself (17 per request in this stack, WhiteNoise's included,
which is sync only; now 5). The hooks of the middleware below only read the request and set
attributes and headers, so under ASGI they run on the event loop (:class:`OnTheLoop`); a hook
that may write (the session's save, the messages' store) goes to a thread when it will. Under
WSGI nothing changes.

Django's SecurityMiddleware, CsrfViewMiddleware and XFrameOptionsMiddleware stay as they are:
``check --deploy`` looks for them by their own names.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from csp import middleware as csp
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.middleware import common, locale
from django.utils.deprecation import MiddlewareMixin
from whitenoise import middleware as whitenoise

from .views import healthz, is_api, json_error


class OnTheLoop(MiddlewareMixin):
    """A middleware whose hooks do no I/O: under ASGI they run on the event loop, not in a
    thread. A subclass whose ``process_response`` may write says when in
    :meth:`response_needs_thread`."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        process_request = getattr(self, "process_request", None)
        response: HttpResponseBase | None = process_request(request) if process_request is not None else None
        if response is None:
            response = cast(HttpResponseBase, await self.get_response(request))  # type: ignore[misc]
        process_response = getattr(self, "process_response", None)
        if process_response is not None:
            if self.response_needs_thread(request, response):
                process_response = sync_to_async(process_response, thread_sensitive=True)
                response = await process_response(request, response)
            else:
                response = process_response(request, response)
        return cast(HttpResponseBase, response)


class CSPMiddleware(OnTheLoop, csp.CSPMiddleware):
    """django-csp's: a lazy nonce on the request, the policy header on the response."""


class SessionMiddleware(OnTheLoop, sessions.SessionMiddleware):
    """Django's: the session is made lazily (read on first use, by the code that uses it), and
    saved in a thread when it changed."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        session = getattr(request, "session", None)
        return session is not None and bool(session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class LocaleMiddleware(OnTheLoop, locale.LocaleMiddleware):
    """Django's: the language from the request's headers and cookie."""


class CommonMiddleware(OnTheLoop, common.CommonMiddleware):
    """Django's: the host check, the trailing-slash redirect, Content-Length."""


class AuthenticationMiddleware(OnTheLoop, auth.AuthenticationMiddleware):
    """Django's: ``request.user`` and ``request.auser``, both lazy (the user is read on first use)."""


class MessageMiddleware(OnTheLoop, messages.MessageMiddleware):
    """Django's: the messages' storage, made lazily, and stored in a thread when it was used
    (the session fallback may write)."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        storage: Any = getattr(request, "_messages", None)
        return storage is not None and bool(storage.used or storage.added_new)


class WhiteNoiseMiddleware(whitenoise.WhiteNoiseMiddleware):
    """WhiteNoise's, able to run under ASGI: WhiteNoise's own is sync only, so Django would
    run it, and hence every request, through a thread and back. Here a request for a static
    file is served in a thread (it opens the file); any other passes straight on."""

    async_capable = True

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        return self.__acall__(request) if self.async_mode else super().__call__(request)

    async def __acall__(self, request: HttpRequest) -> Any:
        if self.autorefresh:  # DEBUG: looked up on disk each time
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is None:
            return await self.get_response(request)
        return await sync_to_async(self.serve)(static_file, request)


HEALTH_PATH = "/healthz"

database_logger = logging.getLogger("reef_site.database")

# Headers of the original error worth keeping on its JSON replacement.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate", "Vary", "Cache-Control")


class HealthCheckMiddleware(MiddlewareMixin):
    """Answers ``/healthz`` first in the chain: before the ALLOWED_HOSTS check (a load balancer
    probes by IP address), the https redirect (its probe is plain http) and the session.
    reef_site.urls routes the same view for a site that leaves this middleware out."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if request.path_info == HEALTH_PATH:
            return healthz(request)
        return None

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info == HEALTH_PATH:  # the checks do I/O: in a thread
            return await sync_to_async(healthz)(request)
        return await self.get_response(request)  # type: ignore[no-any-return, misc]


class ApiJsonErrorsMiddleware(OnTheLoop):
    """Under settings.API_PREFIX, a 4xx or 5xx answer that is not JSON (Django's 404 and 405,
    a CSRF refusal, an error page) becomes ``{"error": "<sentence>", "code": "<word>"}`` with
    the same status. The views' own JSON errors pass through untouched. A view that finds the
    database unreachable (OperationalError: refused, or no pooled connection within
    DATABASE_POOL_TIMEOUT) answers 503 ``unavailable``: the widget says "try again in a
    moment" rather than "something went wrong"."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError) or not is_api(request):
            return None  # elsewhere the site's error page, as for any failure
        database_logger.error("the database could not serve the request; answered 503", exc_info=exception)
        return json_error(503)

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if response.status_code < 400 or not is_api(request):
            return response
        content_type = response.get("Content-Type", "")
        if content_type.split(";", 1)[0].strip().lower() == "application/json":
            return response
        replacement = json_error(response.status_code)
        for header in _KEPT_HEADERS:
            if header in response:
                replacement[header] = response[header]
        for cookie in response.cookies.values():  # e.g. a session or CSRF cookie set on the way out
            replacement.cookies[cookie.key] = cookie
        return replacement
