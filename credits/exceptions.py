"""Every exception of the app, in one place (layer 1: nothing of the app below it).

The landing's failures are raised by :mod:`credits.client` ``from`` the transport's error;
hosts catch :class:`LandingError` (or :class:`LandingNotConfigured` / :class:`LandingBusy`)
and :class:`BalanceUnavailable` around the balance functions of :mod:`credits.balance`.
"""

from __future__ import annotations


class CreditsError(Exception):
    """Base class of the app's exceptions."""


class LandingError(CreditsError):
    """Base class: the landing could not give an answer."""


class LandingNotConfigured(LandingError):
    """No token is configured, so nothing is sent."""


class LandingBusy(LandingError):
    """Too many landing calls are in flight in this process: nothing was sent."""


class LandingUnreachable(LandingError):
    """No connection could be made: nothing was sent, so nothing was charged."""


class LandingTimeout(LandingError):
    """The request was sent but no whole answer came before the deadline: the outcome is unknown."""


class LandingNoAnswer(LandingError):
    """The request was sent but the connection broke before an answer: outcome unknown."""


class BalanceUnavailable(CreditsError):
    """The landing did not give a usable balance."""
