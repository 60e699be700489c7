"""reef_site's URLs and error handlers, plus ``POST /bench/topup-credits`` (the cheapest proxy)."""

from django.urls import path

from reef_site import urls as site_urls

from . import views

urlpatterns = [
    path("bench/topup-credits", views.proxy_topup, name="bench-proxy-topup"),
    *site_urls.urlpatterns,
]

handler400 = site_urls.handler400
handler403 = site_urls.handler403
handler404 = site_urls.handler404
handler500 = site_urls.handler500
