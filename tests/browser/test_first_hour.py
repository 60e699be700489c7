"""What a newcomer meets in the first hour, in a real browser, light and dark: the log-in page
says how people log in, a used link's page names `make link` and offers no password form to a
user who has none, and the site's own pages (header, "sandbox" badge, headings, code, links,
forms) are styled and readable (WCAG AA contrast) in both schemes."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from reef_site.magic import create_link, redeem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCHEMES = pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])

# The text colour of an element and the colour actually behind it (the backgrounds of it and its
# ancestors, composited over the canvas), as [r, g, b] in 0..255; plus its border.
COLOURS = """element => {
  const parse = value => {
    const m = value.match(/rgba?\\(([^)]+)\\)/);
    if (!m) throw new Error("not an rgb colour: " + value);
    const [r, g, b, a = 1] = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [r, g, b, a];
  };
  const over = (top, bottom) => top.slice(0, 3).map((c, i) => c * top[3] + bottom[i] * (1 - top[3]));
  const layers = [];
  for (let node = element; node; node = node.parentElement) {
    const layer = parse(getComputedStyle(node).backgroundColor);
    layers.push(layer);
    if (layer[3] === 1) break;
  }
  let behind = [255, 255, 255];
  if (layers[layers.length - 1][3] !== 1) {
    // Nothing opaque on the way up: the canvas (the root's colour-scheme decides it).
    behind = matchMedia("(prefers-color-scheme: dark)").matches ? [18, 18, 18] : [255, 255, 255];
  }
  for (const layer of layers.reverse()) behind = over(layer, behind);
  const style = getComputedStyle(element);
  return {
    fg: over(parse(style.color), behind),
    bg: behind,
    ownBg: parse(style.backgroundColor),
    border: parseFloat(style.borderTopWidth),
    borderColour: parse(style.borderTopColor),
  };
}"""


def luminance(rgb: list[float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: list[float], b: list[float]) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def colours(page: Page, selector: str) -> dict[str, Any]:
    element = page.locator(selector).first
    expect(element).to_be_visible()
    return element.evaluate(COLOURS)


def assert_readable(page: Page, selector: str, minimum: float = 4.5) -> dict[str, Any]:
    found = colours(page, selector)
    ratio = contrast(found["fg"], found["bg"])
    assert ratio >= minimum, f"{selector}: contrast {ratio:.2f} < {minimum} ({found})"
    return found


@pytest.fixture
def sandbox_badge(settings: Any) -> None:
    settings.CREDITS = {**settings.CREDITS, "SANDBOX": True}


def logged_out(new_page: Any, dark: bool) -> Page:
    page = new_page(dark=dark)
    page.context.clear_cookies()
    return page


def assert_the_scheme(page: Page, dark: bool) -> None:
    body = colours(page, "body")
    assert (luminance(body["bg"]) < 0.05) if dark else (luminance(body["bg"]) > 0.9), body


def assert_the_badge_is_styled(page: Page) -> None:
    badge = page.locator(".site-header .credits-sandbox")
    expect(badge).to_have_text("sandbox", ignore_case=True)
    found = assert_readable(page, ".site-header .credits-sandbox")
    assert found["ownBg"][3] == 1 or found["border"] >= 1, found  # a badge, not plain text
    page_bg = colours(page, "body")["bg"]
    assert contrast(found["bg"], page_bg) >= 1.5 or contrast(found["borderColour"][:3], page_bg) >= 3, found
    box = badge.bounding_box()
    assert box is not None and box["height"] < 32  # a small badge, on the header's line


@SCHEMES
def test_the_login_page_says_people_log_in_by_link(new_page, live_server, sandbox_badge, dark):
    page = logged_out(new_page, dark)
    page.goto(live_server.url + "/accounts/login/")
    expect(page.get_by_role("heading", level=1, name="Log in")).to_be_visible()
    lead = page.locator(".site-main > .site-lead")
    expect(lead).to_contain_text("single-use link from whoever runs this site")
    expect(lead.locator("code")).to_have_text("make link")
    expect(lead).to_contain_text("This form is for accounts that have a password.")
    expect(page.get_by_label("Password")).to_be_visible()
    assert_the_scheme(page, dark)
    assert_the_badge_is_styled(page)
    for selector in (".site-main > h1", ".site-lead", ".site-lead code", "label[for=id_username]", ".site-nav > a"):
        assert_readable(page, selector)
    button = assert_readable(page, ".login-form button")
    assert button["ownBg"][3] == 1  # a filled button, not a bare label
    field = colours(page, "#id_username")
    assert contrast(field["borderColour"][:3], field["bg"]) >= 3  # the field's edge can be seen (1.4.11)
    assert_readable(page, "#id_username")


@SCHEMES
def test_a_used_link_of_a_link_only_user_names_make_link_and_offers_no_password(
    new_page, live_server, django_user_model, sandbox_badge, dark
):
    link_only = django_user_model.objects.create_user("grace")  # no password, as the demo user
    path, _ = create_link(link_only)
    redeem(path.rsplit("/", 1)[1])
    page = logged_out(new_page, dark)
    page.goto(live_server.url + path)
    expect(page.get_by_role("heading", level=1)).to_have_text("This log-in link cannot be used")
    expect(page.locator(".site-main code").first).to_have_text("make link")
    expect(page.locator(".site-main")).to_contain_text("or ask the person who runs it")
    expect(page.locator("input[type=password]")).to_have_count(0)
    expect(page.get_by_role("link", name="password")).to_have_count(0)
    expect(page.locator(".site-main")).not_to_contain_text("password")
    assert_the_scheme(page, dark)
    assert_the_badge_is_styled(page)
    for selector in (".site-main > h1", ".site-main > p", ".site-main > p code"):
        assert_readable(page, selector)


@SCHEMES
def test_a_used_link_of_a_user_with_a_password_leads_to_the_password_form(new_page, live_server, user, dark):
    path, _ = create_link(user)
    redeem(path.rsplit("/", 1)[1])
    page = logged_out(new_page, dark)
    page.goto(live_server.url + path)
    link = page.get_by_role("link", name="log in with your password")
    assert_readable(page, ".site-main > p a")
    link.click()
    expect(page.get_by_label("Password")).to_be_visible()


@SCHEMES
def test_the_link_page_and_the_chat_share_the_header(new_page, live_server, user, sandbox, sandbox_badge, dark):
    path, _ = create_link(user)
    page = logged_out(new_page, dark)
    page.goto(live_server.url + path)
    assert_the_badge_is_styled(page)
    assert_readable(page, ".login-form button")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(live_server.url + "/ui/")
    assert_the_scheme(page, dark)
    assert_the_badge_is_styled(page)  # with the credits widget's own sheet on the page too
    for selector in (".site-name", ".site-user", ".site-logout button"):
        assert_readable(page, selector)


def test_every_request_a_page_makes_is_answered_the_icon_included(new_page, live_server, sandbox):
    """No 404 in the console of a fresh page: the site has an icon, and its pages name it."""
    page = new_page()
    failed: list[str] = []
    page.on("console", lambda msg: failed.append(f"console {msg.location['url']}") if msg.type == "error" else None)
    page.on("response", lambda answer: failed.append(f"{answer.status} {answer.url}") if answer.status >= 400 else None)
    for path in ("/ui/", "/accounts/login/", "/healthz/nothing-here"):
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        icon = page.locator("link[rel=icon]")
        expect(icon).to_have_attribute("type", "image/svg+xml")
        answer = page.request.get(live_server.url + str(icon.get_attribute("href")))
        assert answer.status == 200 and answer.headers["content-type"].startswith("image/svg+xml")
    missing = f"{live_server.url}/healthz/nothing-here"
    assert failed == [f"404 {missing}", f"console {missing}"], failed  # only the page asked to be missing
