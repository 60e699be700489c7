"""The app's HTML page (``app_name = "credits_pages"``): where the header's "+ credits" leads
without JavaScript. A host mounts it outside its JSON API, at any path:
``path("ui/credits/", include("credits.page_urls"))``; the header finds it by reversing
``credits_pages:page``.
"""

from django.urls import path

from . import views

app_name = "credits_pages"

urlpatterns = [
    path("", views.credits_page, name="page"),
]
