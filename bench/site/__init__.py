"""The site the benchmarks run (bench/serve.py, bench/cpu.py): reef_site with the benchmarks'
floors added, the cheapest Django proxy and the lean view (views.py)."""
