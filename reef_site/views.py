"""reef_site's own views: the health check and the error handlers (JSON under API_PREFIX)."""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_
from django.views import csrf, defaults

logger = logging.getLogger("reef_site.health")

# The stable machine word and a sentence for each error status an API answer can have.
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", N_("The request could not be understood.")),
    401: ("not_authenticated", N_("Log in to continue.")),
    403: ("forbidden", N_("You are not allowed to do this.")),
    404: ("not_found", N_("There is nothing at this address.")),
    405: ("method_not_allowed", N_("This address does not accept that method.")),
    408: ("request_timeout", N_("The request took too long to arrive.")),
    413: ("too_large", N_("The request is too large.")),
    415: ("unsupported_media_type", N_("The request's content type is not accepted here.")),
    429: ("rate_limited", N_("Too many requests. Wait a moment and try again.")),
    500: ("server_error", N_("Something went wrong on the server. Try again in a moment.")),
    502: ("bad_gateway", N_("A service this site depends on answered badly. Try again in a moment.")),
    503: ("unavailable", N_("The service is unavailable right now. Try again in a moment.")),
    504: ("gateway_timeout", N_("A service this site depends on did not answer in time. Try again in a moment.")),
}


def is_api(request: HttpRequest) -> bool:
    """Whether the request is for the JSON API (under settings.API_PREFIX)."""
    prefix: str = getattr(settings, "API_PREFIX", "/ui/api/")
    return bool(prefix) and request.path_info.startswith(prefix)


def json_error(status: int) -> JsonResponse:
    """``{"error": "<sentence>", "code": "<word>"}`` with ``status``; never a traceback."""
    code, sentence = _ERRORS.get(
        status,
        ("server_error", _ERRORS[500][1]) if status >= 500 else ("client_error", N_("The request was refused.")),
    )
    return JsonResponse({"error": _(sentence), "code": code}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return json_error(400) if is_api(request) else defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return json_error(403) if is_api(request) else defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return json_error(404) if is_api(request) else defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    return json_error(500) if is_api(request) else defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """settings.CSRF_FAILURE_VIEW: under the API prefix, the JSON refusal the widget knows."""
    if not is_api(request):
        return csrf.csrf_failure(request, reason)
    message = _("The page's security token is missing or stale. Reload the page and try again.")
    return JsonResponse({"error": message, "code": "csrf_failed"}, status=403)


# How long /healthz waits for a database connection: a load balancer's probe gets its answer
# within a second, the database down or not (a request waits DATABASE_POOL_TIMEOUT).
HEALTH_DATABASE_WAIT = 0.5


def healthz(request: HttpRequest) -> HttpResponse:
    """For load balancers, within a second: 200 when the database answers, 503 naming it
    ``"down"`` when it does not. The cache is not needed to serve (without it sessions come
    from the database and the balance from the landing): a cache that does not answer, or
    keeps nothing, is ``"degraded"``, still 200. No log-in, no session, never cached."""
    if request.method not in ("GET", "HEAD"):
        response: HttpResponse = json_error(405)
        response["Allow"] = "GET, HEAD"
    else:
        database, cache_state = _check_database(), _check_cache()
        status = "down" if database != "ok" else cache_state
        body = {"status": status, "database": database, "cache": cache_state}
        response = JsonResponse(body, status=503 if status == "down" else 200)
    add_never_cache_headers(response)
    return response


def _check_database() -> str:
    # With psycopg's pool (reef_site.settings) the check borrows a connection itself, waiting
    # HEALTH_DATABASE_WAIT rather than the pool's timeout, which is meant for requests.
    pool = getattr(connection, "pool", None)
    try:
        if pool is not None:
            pool.open()
            with pool.connection(timeout=HEALTH_DATABASE_WAIT) as borrowed:
                borrowed.execute("SELECT 1").fetchone()
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
    except Exception:
        logger.exception("health check: the database does not answer")
        return "down"
    return "ok"


def _check_cache() -> str:
    """``"ok"``, or ``"degraded"``: a cache that fails (django-redis set to ignore errors, as
    reef_site.settings does, answers a write as not stored) or keeps nothing."""
    key = f"reef-site:healthz:{secrets.token_hex(8)}"
    value = secrets.token_hex(8)
    seen = None
    try:
        if cache.add(key, value, timeout=10):  # one call, not three, to a cache that does not answer
            seen = cache.get(key)
            cache.delete(key)
    except Exception:
        logger.exception("health check: the cache does not answer")
        return "degraded"
    if seen != value:
        logger.warning("health check: the cache did not keep a value; serving without it")
        return "degraded"
    return "ok"
