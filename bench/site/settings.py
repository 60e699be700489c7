"""reef_site's settings unchanged, but for the URLconf: reef_site's URLs plus the benchmark's
cheapest Django proxy (bench/site/views.py). Only bench/serve.py uses it."""

from reef_site.settings import *  # noqa: F403

ROOT_URLCONF = "bench.site.urls"
