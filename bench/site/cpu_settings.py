"""bench/site/settings.py for bench/cpu.py: the team's balance stays cached for an hour, not
10 seconds, so every balance poll, lean view and chat page it measures reads a cached balance
and none of them calls the landing in the middle of a measurement. The top-up limits stay the
app's defaults (bench/cpu.py spreads its top-ups over enough users)."""

from bench.site.settings import *  # noqa: F403
from bench.site.settings import CREDITS

CREDITS = {**CREDITS, "BALANCE_CACHE_SECONDS": 60 * 60}
