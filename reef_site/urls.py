from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="chat:index", permanent=False)),
    path("healthz", views.healthz, name="healthz"),  # HealthCheckMiddleware answers it first
    path(settings.API_PREFIX.lstrip("/"), include("credits.urls")),
    path("ui/", include("chat.urls")),
    # The credits page, outside the JSON API: where "+ credits" leads without JavaScript.
    path("ui/credits/", include("credits.page_urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("auth/", include("reef_site.auth_urls")),
    path("admin/", admin.site.urls),
]

# JSON under settings.API_PREFIX, Django's own pages elsewhere.
handler400 = views.bad_request
handler403 = views.permission_denied
handler404 = views.page_not_found
handler500 = views.server_error
