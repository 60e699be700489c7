"""The app's JSON API (docs/contract.md sections 2 and 7): thin adapters from HTTP to the
rules in :mod:`credits.topups`, :mod:`credits.balance` and :mod:`credits.autotopup`.

Every endpoint is wrapped in :func:`json_endpoint`, which answers each refusal as JSON in
a fixed order (method, log-in, CSRF) before the view runs, so the views only read the body,
do their work and answer. Every answer is JSON, also every error.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from . import alerts, autotopup, client
from . import balance as balances
from .amounts import validate_amount_cents
from .codes import Code, Source, Status
from .conf import get_settings
from .exceptions import BalanceUnavailable, LandingBusy, LandingError, LandingNotConfigured
from .forecast import HOUR, daily_spend, forecast, recent_rate
from .forms import AutoTopupForm
from .models import TopupAttempt
from .outcomes import TopupResult, refusal
from .permissions import amay_top_up, awho_to_ask, may_top_up, refusal_sentence, who_to_ask
from .samples import as_samples, history
from .topups import arequest_topup, request_topup
from .wire import is_valid_key
from .words import format_dollars, msg_balance_not_configured, status_text

MAX_BODY_BYTES = 4096
BROWSER_SOURCES = (Source.HEADER, Source.INLINE, Source.WARNING, Source.FORM, Source.API)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})  # as CsrfViewMiddleware's

View = TypeVar("View", bound=Callable[..., Any])

logger = logging.getLogger("credits")


@dataclass(frozen=True)
class ApiError:
    """A refusal of the request itself (method, log-in, CSRF, body, values): its status, its
    ``code`` and a sentence. A top-up's refusal says ``outcome`` too (:func:`respond`)."""

    status: int
    code: str
    message: str


def error(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, code, str(message))


def respond(answer: ApiError | TopupResult) -> JsonResponse:
    """The JSON answer. A 5xx here is an outcome the app chose and logged itself (a warning such
    as the landing's timeout), not a server error: Django's request log is told it was logged,
    so it does not report it again as an error."""
    if isinstance(answer, ApiError):
        response = JsonResponse({"error": answer.message, "code": answer.code}, status=answer.status)
    else:
        response = JsonResponse(answer.as_body(), status=answer.status)
        if answer.retry_after:
            response["Retry-After"] = answer.retry_after
        if answer.replayed:
            response["Idempotent-Replayed"] = "true"
    if answer.status >= 500:
        response._has_been_logged = True  # type: ignore[attr-defined]  # what django.utils.log.log_response reads
    return response


def _not_allowed(methods: tuple[str, ...]) -> JsonResponse:
    response = respond(
        error(405, Code.METHOD_NOT_ALLOWED, _("Use %(method)s for this address.") % {"method": " or ".join(methods)})
    )
    response["Allow"] = ", ".join(methods)
    return response


def _csrf_refused(request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any) -> bool:
    """Django's own CSRF check: ``process_view`` returns a response only when it refuses (safe
    methods pass). It reads no session that the log-in check has not loaded, so it never blocks."""
    return CsrfViewMiddleware(view).process_view(request, view, args, kwargs) is not None


def _refusal(
    request: HttpRequest, authenticated: bool, view: Callable[..., Any], args: Any, kwargs: Any
) -> JsonResponse | None:
    """The JSON 401 for an anonymous caller, the JSON 403 for a failed CSRF check, or None."""
    if not authenticated:
        return respond(error(401, Code.NOT_AUTHENTICATED, _("Log in to add credits.")))
    if request.method not in SAFE_METHODS and _csrf_refused(request, view, args, kwargs):
        message = _("The page's security token is missing or stale. Reload the page and try again.")
        return respond(error(403, Code.CSRF_FAILED, message))
    return None


def json_endpoint(*methods: str) -> Callable[[View], View]:
    """Make ``view`` (sync or async) an endpoint of the JSON API accepting ``methods``.

    In this order: another method gets a JSON 405 with ``Allow``; an anonymous caller a JSON
    401 ``not_authenticated`` (never a redirect); an unsafe method without a valid CSRF token
    a JSON 403 ``csrf_failed`` (checked here, after the log-in, rather than by the middleware,
    so that each failure gets its own JSON answer). The view runs outside the request's
    transaction (the landing is never called inside one) and its answers are never cached.
    """

    def decorator(view: View) -> View:
        def sync_endpoint(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                return _not_allowed(methods)
            refused = _refusal(request, request.user.is_authenticated, view, args, kwargs)
            return refused if refused is not None else cast(HttpResponse, view(request, *args, **kwargs))

        async def async_endpoint(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                return _not_allowed(methods)
            user = await request.auser()  # without blocking the event loop
            refused = _refusal(request, user.is_authenticated, view, args, kwargs)
            return refused if refused is not None else cast(HttpResponse, await view(request, *args, **kwargs))

        # asgiref's check also sees a sync callable marked with markcoroutinefunction; Django's
        # own decorators below keep the endpoint async when it is.
        endpoint = async_endpoint if iscoroutinefunction(view) else sync_endpoint
        wrapped = never_cache(csrf_exempt(functools.wraps(view)(endpoint)))
        return cast(View, transaction.non_atomic_requests(wrapped))

    return decorator


# --- the body --------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise _DuplicateKey(name)
        result[name] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_body(request: HttpRequest) -> dict[str, Any] | ApiError:
    """The request's JSON object (at most 4 KiB, by its Content-Length and by what is read),
    or the 400 that says what is wrong with it."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_BODY_BYTES:
        return error(400, Code.INVALID_JSON, _("The request body is larger than 4 KiB."))
    return parse_body(request.read(MAX_BODY_BYTES + 1))


def parse_body(raw: bytes) -> dict[str, Any] | ApiError:
    """The request's JSON object, or the 400 that says what is wrong with it."""
    if len(raw) > MAX_BODY_BYTES:
        return error(400, Code.INVALID_JSON, _("The request body is larger than 4 KiB."))
    try:
        data = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_object_without_duplicates, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError):
        return error(
            400, Code.INVALID_JSON, _('The request body must be a JSON object, such as {"amountCents": 1000}.')
        )
    if not isinstance(data, dict):
        return error(
            400, Code.INVALID_JSON, _('The request body must be a JSON object, such as {"amountCents": 1000}.')
        )
    return data


# --- top-ups and the balance -----------------------------------------------------------


@json_endpoint("POST")
async def topup_credits(request: HttpRequest) -> JsonResponse:
    """``POST topup-credits`` under ASGI: async, so waiting on the landing holds no server
    thread. Every answer says what became of the top-up in ``outcome``; one refused here was
    never sent."""
    user = await request.auser()  # loaded by the log-in check already
    if not await amay_top_up(user):  # before the body: nothing is read, recorded or sent
        return _topup_answer(error(403, Code.FORBIDDEN, refusal_sentence(await awho_to_ask())))
    checked = _checked_topup(request)
    if isinstance(checked, ApiError):
        return _topup_answer(checked)
    amount, key, source = checked
    return _topup_answer(await arequest_topup(user, amount, key=key, source=source))  # type: ignore[arg-type]


@json_endpoint("POST")
def topup_credits_sync(request: HttpRequest) -> JsonResponse:
    """:func:`topup_credits` for a site served by WSGI (``CREDITS["ASYNC_VIEWS"] = False``): the
    same answers, without an event loop started for every request."""
    if not may_top_up(request.user):
        return _topup_answer(error(403, Code.FORBIDDEN, refusal_sentence(who_to_ask())))
    checked = _checked_topup(request)
    if isinstance(checked, ApiError):
        return _topup_answer(checked)
    amount, key, source = checked
    return _topup_answer(request_topup(request.user, amount, key=key, source=source))  # type: ignore[arg-type]


def _topup_answer(answer: ApiError | TopupResult) -> JsonResponse:
    """Every answer of topup-credits says what became of the top-up: one refused here was never sent."""
    if isinstance(answer, ApiError):
        answer = refusal(answer.status, Code(answer.code), answer.message)
    return respond(answer)


def _checked_topup(request: HttpRequest) -> tuple[int, str | None, str] | ApiError:
    """The body's amount, the Idempotency-Key and the source, or the 400 that says what is wrong."""
    data = read_body(request)
    if isinstance(data, ApiError):
        return data
    try:
        amount = validate_amount_cents(data.get("amountCents"))
    except ValidationError as exc:
        return error(400, Code.INVALID_AMOUNT, exc.messages[0])
    source = data.get("source", Source.API)
    if source not in BROWSER_SOURCES:  # "auto" is the background's own, never a browser's
        names = ", ".join(BROWSER_SOURCES)
        return error(400, Code.INVALID_SOURCE, _("source must be one of: %(names)s.") % {"names": names})
    key = request.headers.get("Idempotency-Key")
    if key is not None and not is_valid_key(key):
        return error(400, Code.INVALID_IDEMPOTENCY_KEY, _("Idempotency-Key must be 1 to 255 visible ASCII characters."))
    return amount, key, str(source)


@json_endpoint("POST")
def topup_seen(request: HttpRequest) -> JsonResponse:
    """``{"attempt": "<id>"}``: the page has shown the user that this attempt, settled in the
    background, succeeded; so the next top-up is not held back to tell them again."""
    data = read_body(request)
    if isinstance(data, ApiError):
        return respond(data)
    attempt = data.get("attempt")
    try:
        attempt_id = uuid.UUID(attempt) if isinstance(attempt, str) else None
    except ValueError:
        attempt_id = None
    if attempt_id is None:
        return respond(error(400, Code.INVALID_ATTEMPT, _("attempt must be the id of one of your top-ups.")))
    owner = request.user.pk
    assert owner is not None  # json_endpoint let only a logged-in user through
    TopupAttempt.objects.filter(pk=attempt_id, user_id=owner, status=Status.SUCCEEDED).update(outcome_shown=True)
    return JsonResponse({"ok": True})


@json_endpoint("GET")
async def credits_balance(request: HttpRequest) -> JsonResponse:
    """``GET credits``: the team's balance, the landing's own shape, and ``warning`` while the
    credits are running low (:mod:`credits.alerts`)."""
    try:
        balance = await balances.aget_balance()
    except (LandingError, BalanceUnavailable) as exc:
        return respond(_balance_refusal(exc))
    return JsonResponse(_with_warning(balance, await alerts.acurrent_warning()))


@json_endpoint("GET")
def credits_balance_sync(request: HttpRequest) -> JsonResponse:
    """:func:`credits_balance` for a site served by WSGI."""
    try:
        balance = balances.get_balance()
    except (LandingError, BalanceUnavailable) as exc:
        return respond(_balance_refusal(exc))
    return JsonResponse(_with_warning(balance, alerts.current_warning()))


def _with_warning(balance: dict[str, Any], warning: str) -> dict[str, Any]:
    """The balance, with ``warning`` only while there is one (a value not known is left out)."""
    return {**balance, "warning": warning} if warning else balance


def _balance_refusal(exc: LandingError | BalanceUnavailable) -> ApiError:
    """Why there is no balance, logged as a warning: the app's own outcome, not a server error."""
    if isinstance(exc, LandingBusy):
        logger.warning("balance: not asked, too many landing calls in flight")
        return error(503, Code.BUSY, _("The balance cannot be read right now. Please try again in a moment."))
    if isinstance(exc, LandingNotConfigured):
        logger.warning("balance: not asked, no landing token is configured")
        return error(503, Code.NOT_CONFIGURED, msg_balance_not_configured())
    logger.warning("balance: the landing gave no usable balance (%s)", client.redact(str(exc)))
    return error(502, Code.UPSTREAM_UNAVAILABLE, _("The balance cannot be read from the billing service right now."))


def attempt_json(attempt: TopupAttempt) -> dict[str, Any]:
    """One line of the recent top-ups: amount, ISO time and the time as the pages write it
    (``createdText``, so the script and the page without it show one format), status and a
    sentence for the status."""
    item: dict[str, Any] = {
        "id": str(attempt.pk),
        "amountCents": attempt.amount_cents,
        "amount": format_dollars(attempt.amount_cents),
        "createdAt": attempt.created_at.isoformat(),
        "createdText": created_text(attempt.created_at),
        "status": attempt.status,
        "statusText": status_text(attempt.status, attempt.error_code),
        "source": attempt.source,
    }
    if attempt.status in (Status.DECLINED, Status.ERROR, Status.REFUSED) and attempt.error_message:
        item["detail"] = attempt.error_message
    return item


def created_text(at: datetime) -> str:
    """When a top-up was made, as every page writes it: the site's time zone and the active
    language's ``DATETIME_FORMAT`` ("Jan. 5, 2025, 3:04 p.m.")."""
    return formats.date_format(timezone.localtime(at), "DATETIME_FORMAT")


@json_endpoint("GET")
def recent_topups(request: HttpRequest) -> JsonResponse:
    """``{"topups": [...]}``: the user's last ``CREDITS["RECENT_TOPUPS"]`` attempts, newest first."""
    limit = get_settings().RECENT_TOPUPS
    if limit <= 0:
        return respond(error(404, Code.NOT_FOUND, _("Recent top-ups are turned off on this site.")))
    attempts = TopupAttempt.objects.filter(user=request.user).order_by("-created_at")[:limit]  # type: ignore[misc]
    return JsonResponse({"topups": [attempt_json(a) for a in attempts]})


# --- the spend history ------------------------------------------------------------------


SPEND_DAYS = 30  # the default of ?days=
MAX_SPEND_DAYS = 90


def parse_days(raw: str | None) -> int | None:
    """``?days=``: a whole number from 1 to 90 written in ASCII digits (default 30), or None."""
    if raw is None:
        return SPEND_DAYS
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_SPEND_DAYS:
        return None
    return int(raw)


@json_endpoint("GET")
def spend(request: HttpRequest) -> JsonResponse:
    """``GET spend?days=N``: the team's spend on each of the last N days (the site's time zone,
    oldest first), the spend rate of the last day and the forecast of when the credits run out."""
    days = parse_days(request.GET.get("days"))
    if days is None:
        return respond(
            error(400, Code.INVALID_DAYS, _("days must be a whole number from 1 to %(max)d.") % {"max": MAX_SPEND_DAYS})
        )
    now = timezone.now()
    samples = as_samples(history(now - timedelta(days=days)))
    rate = recent_rate(samples, now)
    return JsonResponse(
        {
            "days": [
                {"date": day.isoformat(), "spend": round(dollars, 6)}
                for day, dollars in daily_spend(samples, days, now, timezone.get_current_timezone())
            ],
            "rate": None if rate is None else {"perHour": rate.per_hour, "windowHours": rate.window / HOUR},
            "forecast": forecast(samples, now).as_json(),
        }
    )


# --- auto top-up -----------------------------------------------------------------------


def _invalid(message: str) -> ApiError:
    return error(400, Code.INVALID_AUTO_TOPUP, message)


def validate_auto_topup(data: dict[str, Any]) -> dict[str, Any] | ApiError:
    """The four values as keyword arguments of :func:`credits.autotopup.update`, or the 400:
    JSON's own types here (an integer, not a string), the rules in :class:`AutoTopupForm`."""
    enabled = data.get("enabled")
    if not isinstance(enabled, bool):
        return _invalid(_("enabled must be true or false."))
    values: dict[str, int] = {}
    for name in ("thresholdCents", "amountCents", "monthlyCapCents"):
        value = data.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            return _invalid(
                _("%(name)s must be a whole number of cents written as a JSON integer, such as 2500 for $25.")
                % {"name": name}
            )
        if not 0 <= value <= autotopup.MAX_CENTS:
            return _invalid(_("%(name)s must not be negative.") % {"name": name})
        values[name] = value
    form = AutoTopupForm(
        {
            "enabled": enabled,
            "threshold_cents": values["thresholdCents"],
            "amount_cents": values["amountCents"],
            "monthly_cap_cents": values["monthlyCapCents"],
        }
    )
    if not form.is_valid():
        return _invalid(str(next(iter(form.errors.values()))[0]))
    return dict(form.cleaned_data)


@json_endpoint("GET", "PUT")
def auto_topup(request: HttpRequest) -> JsonResponse:
    """``GET``: the setting (any logged-in user). ``PUT``: change it (``credits.manage_auto_topup``)."""
    if request.method == "GET":
        return JsonResponse(autotopup.state(request.user))
    if not request.user.has_perm(autotopup.PERMISSION):
        return respond(error(403, Code.FORBIDDEN, _("Only a team member allowed to manage auto top-up can change it.")))
    data = read_body(request)
    if isinstance(data, ApiError):
        return respond(data)
    values = validate_auto_topup(data)
    if isinstance(values, ApiError):
        return respond(values)
    autotopup.update(request.user, **values)  # type: ignore[arg-type]
    return JsonResponse(autotopup.state(request.user))
