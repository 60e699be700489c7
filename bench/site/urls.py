"""reef_site's URLs and error handlers, plus the benchmarks' floors (bench/site/views.py): the
cheapest proxy, ``POST /bench/topup-credits`` (async) and ``/bench/topup-credits-sync``, the
durable proxy, ``POST /bench/topup-durable`` (async) and ``/bench/topup-durable-sync``, and
the lean view, ``GET /bench/lean`` (async) and ``/bench/lean-sync``."""

from django.urls import path

from reef_site import urls as site_urls

from . import views

urlpatterns = [
    path("bench/topup-credits", views.proxy_topup, name="bench-proxy-topup"),
    path("bench/topup-credits-sync", views.proxy_topup_sync, name="bench-proxy-topup-sync"),
    path("bench/topup-durable", views.durable_topup, name="bench-durable-topup"),
    path("bench/topup-durable-sync", views.durable_topup_sync, name="bench-durable-topup-sync"),
    path("bench/lean", views.lean, name="bench-lean"),
    path("bench/lean-sync", views.lean_sync, name="bench-lean-sync"),
    *site_urls.urlpatterns,
]

handler400 = site_urls.handler400
handler403 = site_urls.handler403
handler404 = site_urls.handler404
handler500 = site_urls.handler500
