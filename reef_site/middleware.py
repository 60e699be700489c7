"""reef_site's middleware: the health check, and JSON errors under the API prefix.

Both work under WSGI and ASGI (MiddlewareMixin runs their hooks in either mode).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

from .views import healthz, is_api, json_error

HEALTH_PATH = "/healthz"

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


class ApiJsonErrorsMiddleware(MiddlewareMixin):
    """Under settings.API_PREFIX, a 4xx or 5xx answer that is not JSON (Django's 404 and 405,
    a CSRF refusal, an error page) becomes ``{"error": "<sentence>", "code": "<word>"}`` with
    the same status. The views' own JSON errors pass through untouched."""

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
