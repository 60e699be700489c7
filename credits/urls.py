"""The app's JSON API (``app_name = "credits"``): a host mounts it under any prefix of its own
with ``path("<prefix>/", include("credits.urls"))`` (reef_site: ``ui/api/``), and the pages
and scripts find each endpoint by reversing ``credits:<name>``.

The credits page is HTML, so it is not here but in ``credits.page_urls``, which a host mounts
outside its JSON API: ``path("ui/credits/", include("credits.page_urls"))``.

The two endpoints that wait on the landing are async views, so under ASGI the wait holds no
thread. A site served by WSGI sets ``CREDITS["ASYNC_VIEWS"] = False`` and gets their sync
twins, with the same answers, so no request pays for starting an event loop.
"""

from django.urls import URLPattern, path

from . import api, views
from .conf import get_settings

app_name = "credits"


def patterns(async_views: bool) -> list[URLPattern]:
    """The app's routes, with the async views or their sync twins."""
    return [
        path("topup-credits", api.topup_credits if async_views else api.topup_credits_sync, name="topup-credits"),
        path("credits", api.credits_balance if async_views else api.credits_balance_sync, name="credits"),
        path("topup-form", views.topup_form, name="topup-form"),
        path("recent-topups", api.recent_topups, name="recent-topups"),
        path("topup-seen", api.topup_seen, name="topup-seen"),
        path("auto-topup", api.auto_topup, name="auto-topup"),
        path("spend", api.spend, name="spend"),
    ]


urlpatterns = patterns(get_settings().ASYNC_VIEWS)
