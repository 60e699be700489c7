"""The app's URLconf under a prefix of its own (not reef_site's ``ui/api/``), and nothing else."""

from django.urls import include, path

urlpatterns = [path("api/", include("credits.urls"))]
