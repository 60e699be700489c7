"""The site bench/serve.py runs: reef_site with one extra route, the cheapest Django proxy."""
