"""The app's JSON API (``app_name = "credits"``): a host mounts it under any prefix of its own
with ``path("<prefix>/", include("credits.urls"))`` (reef_site: ``ui/api/``), and the pages
and scripts find each endpoint by reversing ``credits:<name>``.

The credits page is HTML, so it is not here but in ``credits.page_urls``, which a host mounts
outside its JSON API: ``path("ui/credits/", include("credits.page_urls"))``.
"""

from django.urls import path

from . import api, views

app_name = "credits"

urlpatterns = [
    path("topup-credits", api.topup_credits, name="topup-credits"),
    path("credits", api.credits_balance, name="credits"),
    path("topup-form", views.topup_form, name="topup-form"),
    path("recent-topups", api.recent_topups, name="recent-topups"),
    path("topup-seen", api.topup_seen, name="topup-seen"),
    path("auto-topup", api.auto_topup, name="auto-topup"),
]
