"""reef_site's settings unchanged, but for the URLconf: reef_site's URLs plus the benchmarks'
floors (bench/site/views.py). bench/serve.py uses it; bench/cpu.py uses cpu_settings.py."""

from reef_site.settings import *  # noqa: F403

ROOT_URLCONF = "bench.site.urls"
