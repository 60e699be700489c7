"""Every sentence a person reads that the flows write (the widget's too): one place to
change the words, and each reaches the page once. Layer 1: no database.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from .codes import UNSETTLED, Status
from .conf import CreditsSettings
from .forecast import Forecast, time_left_phrase, window_phrase


def format_money(dollars: float) -> str:
    """``12.5`` → ``"$12.50"``, ``-2`` → ``"-$2.00"``: as ``credits.js`` shows a balance."""
    sign = "-" if dollars < 0 else ""
    return f"{sign}${abs(dollars):,.2f}"


def format_dollars(cents: int) -> str:
    """``1000`` → ``"$10"``, ``1050`` → ``"$10.50"``."""
    dollars, rest = divmod(cents, 100)
    return f"${dollars:,}" if rest == 0 else f"${dollars:,}.{rest:02d}"


def msg_added(amount_cents: int) -> str:
    """The sentence the widget and the form show after a top-up went through."""
    return _("Added %(amount)s") % {"amount": format_dollars(amount_cents)}


def msg_busy() -> str:
    return _(
        "Too many requests are waiting for the billing service right now, so this one was not sent and "
        "nothing was charged. Please try again in a moment."
    )


# Where trying again cannot help, the sentence says so and who can fix it.
def msg_not_configured() -> str:
    return _(
        "Top-ups are not set up on this site yet, so nothing was charged. An administrator of this site "
        "needs to set them up; trying again will not help until then."
    )


def msg_misconfigured() -> str:
    return _(
        "Top-ups are misconfigured on this site: the billing service refused the site's credentials, so "
        "nothing was charged. An administrator of this site needs to fix it; trying again will not help "
        "until then."
    )


def msg_landing_busy(retry_after: str | None) -> str:
    """The landing's 429: nothing was charged; how long to wait, from ``Retry-After`` when given."""
    busy = _("The billing service is busy with this team's charges, so nothing was charged.")
    if retry_after is None:
        return busy + " " + _("Try again in a few minutes.")
    return busy + " " + _("Try again in %(wait)s.") % {"wait": wait_text(int(retry_after))}


def wait_text(seconds: int) -> str:
    """A wait a person reads: "30 seconds", "2 minutes", "3 hours" (rounded up)."""
    if seconds < 60:
        count = max(1, seconds)
        return ngettext("%(count)d second", "%(count)d seconds", count) % {"count": count}
    if seconds < 3600:
        count = -(-seconds // 60)
        return ngettext("%(count)d minute", "%(count)d minutes", count) % {"count": count}
    count = -(-seconds // 3600)
    return ngettext("%(count)d hour", "%(count)d hours", count) % {"count": count}


def status_text(status: str, code: str = "") -> str:
    """The label of an attempt in the recent top-ups: what happened, by its status and code."""
    if status in UNSETTLED:
        return _("Checking…")
    if status == Status.DECLINED:
        labels = {
            "rate_limited": _("Not charged: billing service busy"),
            "no_card": _("Not charged: no card saved"),
            "requires_action": _("Not charged: the payment needs confirming"),
        }
        return labels.get(code) or str(Status.DECLINED.label)
    if status == Status.ERROR and code in ("upstream_auth", "not_configured"):
        return _("Not charged: top-ups are not set up correctly")
    return str(Status(status).label)


def msg_not_sent() -> str:
    return _(
        "The site could not record this top-up, so it was not sent and nothing was charged. "
        "Please try again in a moment."
    )


def msg_not_recorded() -> str:
    return (
        _(
            "The top-up was sent, but the site could not record the answer, so we do not know yet whether "
            "the credits were added."
        )
        + " "
        + msg_retry_safe()
    )


def msg_bad_answer_unknown() -> str:
    return (
        _("The billing service gave no usable answer, so we do not know yet whether the credits were added.")
        + " "
        + msg_retry_safe()
    )


def msg_earlier_succeeded(amount_cents: int) -> str:
    return _("Your earlier %(amount)s top-up went through, so nothing more was charged.") % {
        "amount": format_dollars(amount_cents)
    }


def msg_still_processing(amount_cents: int) -> str:
    """What a page loaded while the user's top-up is in flight or unsettled says of it."""
    return _("Your %(amount)s top-up is still being processed.") % {"amount": format_dollars(amount_cents)}


def msg_earlier_in_progress(amount_cents: int) -> str:
    return msg_still_processing(amount_cents) + " " + _("Nothing new was charged; its result shows here in a moment.")


def msg_unsettled(amount_cents: int) -> str:
    return _(
        "We still do not know whether your earlier %(amount)s top-up went through, so nothing new was "
        "charged. We keep checking with the billing service; look at your recent top-ups in a moment."
    ) % {"amount": format_dollars(amount_cents)}


def msg_declined() -> str:
    return _("The billing service declined this top-up.")


def msg_upstream_error() -> str:
    return _("The billing service had a problem and did not add the credits. Please try again in a moment.")


def msg_unreachable() -> str:
    return _("The billing service could not be reached, so nothing was charged. Please try again in a moment.")


def msg_timeout() -> str:
    return (
        _("The billing service did not answer in time, so we do not know yet whether the credits were added.")
        + " "
        + msg_retry_safe()
    )


def msg_retry_safe() -> str:
    """The one instruction after an outcome that is not known yet. It is true: the widget reuses
    the same idempotency key for the same amount, and the server settles an earlier unknown
    top-up before it sends a new one, so nothing is charged twice."""
    return _("Pressing the same amount again is safe: it cannot be charged twice.")


def msg_in_progress() -> str:
    return _("This top-up is still being processed. Wait a moment, then check your balance.")


def msg_mismatch() -> str:
    return _("This Idempotency-Key was already used for a different amount. Use a new key for a new top-up.")


def msg_hourly_limit(count: int, minutes: int) -> str:
    return msg_try_again_in(_("You have reached the limit of %(count)d top-ups an hour.") % {"count": count}, minutes)


def msg_daily_limit(amount_cents: int, minutes: int) -> str:
    sentence = _("This top-up would pass the limit of %(amount)s a day.") % {"amount": format_dollars(amount_cents)}
    return msg_try_again_in(sentence, minutes)


def msg_try_again_in(sentence: str, minutes: int) -> str:
    return sentence + " " + _("Please try again in %(minutes)d min.") % {"minutes": minutes}


def msg_whole_dollars() -> str:
    return _("Enter a whole number of dollars, such as 10.")


def msg_range(conf: CreditsSettings) -> str:
    return _("A top-up must be from %(min)s to %(max)s.") % {
        "min": format_dollars(conf.MIN_AMOUNT_CENTS),
        "max": format_dollars(conf.MAX_AMOUNT_CENTS),
    }


def msg_confirm(amount_cents: int) -> str:
    """The question a large amount asks before anything is sent."""
    return _("Add %(amount)s to the team's credits?") % {"amount": format_dollars(amount_cents)}


def msg_balance_not_configured() -> str:
    return _("The balance is not available: top-ups are not set up on this site.")


def msg_open_billing() -> str:
    return _("Open the billing page")


def msg_balance_detail() -> str:
    """The balance's detail line, with ``%(credits)s`` (all credits ever bought) and ``%(spend)s``
    (all ever used) to fill in: "$1,250.00 bought in total, $1,250.00 used", so it never reads
    as a second balance beside the remaining one."""
    return _("%(credits)s bought in total, %(spend)s used")


def msg_auto_topup_state_on() -> str:
    """The auto top-up's state in one line, with ``%(amount)s`` and ``%(threshold)s`` to fill in."""
    return _("Auto top-up: on, %(amount)s when below %(threshold)s")


def msg_auto_topup_state_off() -> str:
    return _("Auto top-up: off")


def auto_topup_line(enabled: bool, amount_cents: int, threshold_cents: int) -> str:
    """The auto top-up's state in one line, "Auto top-up: off" or "Auto top-up: on, $25 when below
    $5": the header's disclosure and the credits page say it in these words, before any detail."""
    if not enabled:
        return msg_auto_topup_state_off()
    return msg_auto_topup_state_on() % {
        "amount": format_dollars(amount_cents),
        "threshold": format_dollars(threshold_cents),
    }


def msg_source_auto() -> str:
    """The mark of an automatic top-up in the recent top-ups."""
    return pgettext("top-up source", "Auto")


def msg_no_history() -> str:
    """The credits page's spend history before there is any (never a made-up zero)."""
    return _("No spend history yet: it starts with this site's next balance readings.")


def msg_spend_summary(spent: str, days: int, outlook: Forecast) -> str:
    """The credits page's chart in one sentence: "$12.40 spent in the last 30 days; about 6 hours
    left at the last day's rate." (without a forecast, the forecast's own sentence follows)."""
    values = {"spent": spent, "days": days}
    if outlook.state == "forecast" and outlook.hours_left is not None and outlook.window is not None:
        return ngettext(
            "%(spent)s spent in the last day; %(time)s left %(rate)s.",
            "%(spent)s spent in the last %(days)d days; %(time)s left %(rate)s.",
            days,
        ) % {**values, "time": time_left_phrase(outlook.hours_left), "rate": window_phrase(outlook.window)}
    spent_sentence = (
        ngettext("%(spent)s spent in the last day.", "%(spent)s spent in the last %(days)d days.", days) % values
    )
    return f"{spent_sentence} {outlook.phrase}"


def script_texts(conf: CreditsSettings) -> dict[str, str]:
    """The sentences ``credits.js`` shows, translated here so the script holds no English."""
    return {
        "added": _("Added %(amount)s"),
        "adding": _("Adding %(amount)s…"),
        "invalid": msg_whole_dollars(),
        "range": msg_range(conf),
        "network": _("The connection to the site failed, so we do not know whether the credits were added."),
        "badAnswer": _("The site gave no usable answer, so we do not know whether the credits were added."),
        "confirm": _("Add %(amount)s to the team's credits?"),
        "retrySafe": msg_retry_safe(),
        "billing": msg_open_billing(),
        "low": _("Low balance"),
        "unavailable": _("unavailable"),
        "unavailableLong": _("The balance cannot be read right now."),
        "detail": msg_balance_detail(),
        "recentEmpty": _("No top-ups yet."),
        "recentError": _("Recent top-ups cannot be loaded right now."),
        "warningOver": _("The credits are no longer running low."),
        "autoOn": msg_auto_topup_state_on(),
        "autoOff": msg_auto_topup_state_off(),
        "auto": msg_source_auto(),
    }


# --- Notices (credits.alerts) ------------------------------------------------------------------


def msg_running_low(remaining: float, hours_left: float | None) -> str:
    """The chat's warning: "Credits are running low: about 2 hours left at the current rate."
    (with a forecast), else "Credits are running low: $2.00 left."; "… have run out." at zero."""
    if remaining <= 0:
        return _("The team's credits have run out.")
    if hours_left is not None:
        return _("Credits are running low: %(time)s left at the current rate.") % {"time": time_left_phrase(hours_left)}
    return _("Credits are running low: %(amount)s left.") % {"amount": format_money(remaining)}


def msg_running_low_notice(remaining: float, hours_left: float | None) -> str:
    """The notice's sentence (an email's subject, a webhook's ``text``): "reef credits are
    running low: $2.00 left, about 2 hours at the current rate." """
    if hours_left is None:
        return _("reef credits are running low: %(amount)s left.") % {"amount": format_money(remaining)}
    return _("reef credits are running low: %(amount)s left, %(time)s at the current rate.") % {
        "amount": format_money(remaining),
        "time": time_left_phrase(hours_left),
    }


def msg_auto_topup_off(reason: str) -> str:
    """The notice after three automatic top-ups in a row failed."""
    return _("reef credits: the auto top-up was turned off. %(reason)s") % {"reason": reason}


def msg_needs_operator(amount_cents: int, user: str) -> str:
    """The notice for a top-up whose outcome the billing service has not told for a day."""
    return _(
        "reef credits: a %(amount)s top-up by %(user)s has had no definite answer from the billing "
        "service for a day. Check it with the billing service, then settle it in the admin."
    ) % {"amount": format_dollars(amount_cents), "user": user}
