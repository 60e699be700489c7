from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="chat:index", permanent=False)),
    path("ui/api/", include("credits.urls")),
    path("ui/", include("chat.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("auth/", include("chat.auth_urls")),
    path("admin/", admin.site.urls),
]
