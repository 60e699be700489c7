"""reef credits: top up a reef team's prepaid LLM credits from any Django site."""

__version__ = "0.1.0"
