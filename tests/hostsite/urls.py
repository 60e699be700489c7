"""The host site's URLs: the credits app under a prefix of its own."""

from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.views.generic import TemplateView

urlpatterns = [
    path("billing/api/", include("credits.urls")),
    path("", login_required(TemplateView.as_view(template_name="hostsite/chat.html")), name="home"),
]
