"""reef_site's URLs with the credits API's sync views, as a site served by WSGI has them
(``CREDITS["ASYNC_VIEWS"] = False``)."""

from django.urls import include, path

from credits.urls import app_name, patterns
from reef_site.urls import urlpatterns as site

urlpatterns = [
    path("ui/api/", include((patterns(async_views=False), app_name))),
    *(pattern for pattern in site if "credits.urls" not in str(getattr(pattern, "urlconf_name", ""))),
]
