"""The app's CSS and JS on a page: once, with the request's CSP nonce (see ``{% credits_assets %}``).

No ``register`` here, so Django does not take this module for a tag library.
"""

from __future__ import annotations

from typing import Any, cast

from django import template

# Where "the assets are on this page already" is kept: on the request, which every template
# rendered for it shares (the page, its includes, the inclusion tags' own templates); without a
# request, on the render context's bottom level, which one top-level render shares with every
# template it includes (Context.new() and {% include %} copy the list of levels, not the levels).
REQUEST_FLAG = "_credits_assets_emitted"
RENDER_FLAG = "credits.assets_emitted"


def claim_assets(context: template.Context) -> bool:
    """True the first time it is asked on this page (the caller then emits the assets), False after."""
    request = context.get("request")
    if request is not None:
        if getattr(request, REQUEST_FLAG, False):
            return False
        setattr(request, REQUEST_FLAG, True)
        return True
    page = cast("dict[str, Any]", context.render_context.dicts[0])
    if page.get(RENDER_FLAG):
        return False
    page[RENDER_FLAG] = True
    return True


def csp_nonce(context: template.Context) -> str:
    """The request's CSP nonce (django-csp 4: ``request.csp_nonce``; its context processor's
    ``CSP_NONCE`` otherwise), or "" when there is none.

    django-csp's nonce is a lazy object that is falsy until it is read, so it is read with str(),
    never tested for truth first; reading it is what puts it in the Content-Security-Policy header.
    """
    request = context.get("request")
    nonce = getattr(request, "csp_nonce", None) if request is not None else None
    if nonce is None:
        nonce = context.get("CSP_NONCE")
    return "" if nonce is None else str(nonce)


def assets_context(context: template.Context) -> dict[str, Any]:
    """``assets`` (emit them here?) and ``nonce`` for ``credits/assets.html``."""
    if not claim_assets(context):
        return {"assets": False, "nonce": ""}
    return {"assets": True, "nonce": csp_nonce(context)}
