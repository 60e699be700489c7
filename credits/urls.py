from django.urls import path

from . import views
from .autotopup_views import auto_topup
from .form_views import recent_topups, topup_form

app_name = "credits"

urlpatterns = [
    path("topup-credits", views.topup_credits, name="topup-credits"),
    path("credits", views.credits_balance, name="credits"),
    path("topup-form", topup_form, name="topup-form"),
    path("recent-topups", recent_topups, name="recent-topups"),
    path("topup-seen", views.topup_seen, name="topup-seen"),
    path("auto-topup", auto_topup, name="auto-topup"),
]

# The credits page (form_views.credits_page) is HTML, so it is not in this URLconf, which a
# site may mount as a JSON API (reef_site does, under ui/api/): a host mounts the view itself,
# under any path and name, and the header's "+ credits" finds it (reef_site: chat.urls, /ui/credits/).
