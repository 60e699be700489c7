"""What host sites use in their own tests and demos, never at run time.

- :class:`SandboxLanding`: the sandbox landing, a stand-in billing service over real HTTP
  (``with SandboxLanding(token) as landing: landing.url``); its :class:`SandboxState` is
  ``landing.state`` (``configure``, ``snapshot``).
- :func:`override_transport`: every landing request through an injected ``httpx`` transport.
- :func:`spend`: spend credits on the sandbox landing, as the chat's demo agent does.

Add ``"credits.testing"`` to ``INSTALLED_APPS`` for ``python manage.py sandbox_landing``.
"""

from .client import override_transport, spend
from .modes import MODES, NEXT_MODES, FaultConfig
from .server import SandboxLanding, is_loopback
from .state import SandboxState

__all__ = [
    "MODES",
    "NEXT_MODES",
    "FaultConfig",
    "SandboxLanding",
    "SandboxState",
    "is_loopback",
    "override_transport",
    "spend",
]
