"""Under WSGI the API's sync twins answer as the async views do, and no request starts an
event loop (``CREDITS["ASYNC_VIEWS"] = False``, credits.urls)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import AsyncToSync
from django.utils import timezone

from credits.models import TopupAttempt
from tests.conftest import make_api

pytestmark = pytest.mark.django_db


def answers(api, user, sandbox):
    """The same requests, whichever views serve them: what they answered, and the charges."""
    seen = [
        api.topup({"amountCents": 1000}, key="a"),
        api.topup({"amountCents": 1000}, key="a"),  # a replay
        api.topup({"amountCents": 3}, key="b"),
        api.topup(raw="[1]"),
        api.balance(),
    ]
    sandbox.state.configure(mode="decline")
    seen.append(api.topup({"amountCents": 1000}, key="c"))
    TopupAttempt.objects.create(
        user=user, amount_cents=1500, idempotency_key="d", settle_at=timezone.now() + timedelta(seconds=30)
    )
    seen.append(api.topup({"amountCents": 1000}, key="e"))
    shape = [(r.status_code, {k: v for k, v in r.json().items() if k not in ("attempt", "balance")}) for r in seen]
    return shape, [c["amountCents"] for c in sandbox.state.snapshot()["charges"]]


def test_the_sync_views_answer_as_the_async_ones(sandbox, user, django_user_model, settings):
    async_answers = answers(make_api(user), user, sandbox)
    sandbox.state.configure(reset=True)
    other = django_user_model.objects.create_user("wsgi")
    settings.ROOT_URLCONF = "tests.wsgi_urls"
    assert answers(make_api(other), other, sandbox) == async_answers


@pytest.mark.parametrize(("urlconf", "loops"), [("tests.wsgi_urls", False), ("reef_site.urls", True)])
def test_under_wsgi_no_request_starts_an_event_loop(sandbox, api, settings, monkeypatch, urlconf, loops):
    started = []
    real = AsyncToSync.__call__

    def counted(self, *args, **kwargs):
        started.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(AsyncToSync, "__call__", counted)
    settings.ROOT_URLCONF = urlconf
    assert api.topup({"amountCents": 1000}).status_code == 200
    assert api.balance().status_code == 200
    assert bool(started) is loops  # the async views, served by WSGI, would start one each
