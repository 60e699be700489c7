"""The package other reef sites install: the wheel holds the app and only the app, its metadata
says what hosts need to know, and the translation catalogues it ships are compiled and load.

The wheel is built from a copy of the working tree (so no ``build/`` left over from an earlier
build can slip into it), the way a host's ``pip install`` builds it, with the build backend
installed in the virtualenv (requirements.txt) and no network.
"""

from __future__ import annotations

import ast
import email.parser
import gettext
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.utils import translation

import credits

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "credits"
LOCALE = APP / "locale"
LANGUAGES = ("en", "de")  # en: the template (the source strings); de: a translation
DIST_INFO = f"reef_credits-{credits.__version__}.dist-info/"

# Never copied into the tree the wheel is built from: version control, the virtualenv, caches,
# earlier builds, the site's database and collected static files.
ROOT_LEFTOVERS = {"build", "dist", "staticfiles", "htmlcov", "test-results"}


def _leave_out(directory: str, names: list[str]) -> set[str]:
    skipped = {name for name in names if name == "__pycache__" or name.endswith(".pyc")}
    if Path(directory) == ROOT:
        skipped |= {
            name
            for name in names
            if name.startswith(".")
            or name in ROOT_LEFTOVERS
            or name.endswith(".egg-info")
            or name.startswith("db.sqlite3")
        }
    return skipped


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    tree = tmp_path_factory.mktemp("source") / "reef-credits"
    shutil.copytree(ROOT, tree, ignore=_leave_out)
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    command += ["--disable-pip-version-check", "--quiet", "--wheel-dir", str(out), str(tree)]
    built = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    [path] = out.glob("reef_credits-*.whl")
    assert path.name == f"reef_credits-{credits.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(path) as archive:
        yield archive


def _app_files() -> set[str]:
    """Every file of credits/ in the working tree, as the wheel names it (no bytecode, no dotfiles)."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in APP.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix != ".pyc"
        and not any(part.startswith(".") for part in path.relative_to(APP).parts)
    }


def test_the_wheel_holds_the_app_and_only_the_app(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    outside = sorted(name for name in names if not name.startswith(("credits/", DIST_INFO)))
    assert outside == [], "the wheel holds files that are not the app"
    for other in ("reef_site/", "chat/", "tests/", "bench/", "docs/", "templates/", "manage.py"):
        assert not any(name.startswith(other) for name in names), other

    # Every file of the app, subpackages, templates, static files, migrations and catalogues
    # included, and nothing else.
    assert {name for name in names if name.startswith("credits/")} == _app_files()
    wanted = {
        "credits/__init__.py",
        "credits/py.typed",
        "credits/urls.py",
        "credits/templatetags/credits.py",
        "credits/management/commands/settle_topups.py",
        "credits/templates/credits/button.html",
        "credits/templates/credits/inline_widget.html",
        "credits/templates/credits/page.html",
        "credits/static/credits/credits.js",
        "credits/static/credits/credits.css",
        "credits/static/credits/admin.css",
        "credits/migrations/__init__.py",
        "credits/migrations/0001_initial.py",
    }
    wanted |= {path.relative_to(ROOT).as_posix() for path in (APP / "migrations").glob("0*.py")}
    wanted |= {f"credits/locale/{lang}/LC_MESSAGES/django.{ext}" for lang in LANGUAGES for ext in ("po", "mo")}
    assert wanted <= names, sorted(wanted - names)
    assert wheel.read(f"{DIST_INFO}top_level.txt").decode().split() == ["credits"]


def test_the_metadata_says_what_a_host_needs(wheel: zipfile.ZipFile) -> None:
    metadata = email.parser.Parser().parsestr(wheel.read(f"{DIST_INFO}METADATA").decode())
    assert metadata["Name"] == "reef-credits"
    assert metadata["Version"] == credits.__version__
    assert metadata["Requires-Python"] == ">=3.11"
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    license_text = wheel.read(f"{DIST_INFO}licenses/LICENSE").decode()
    assert license_text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the reef credits authors" in license_text
    assert license_text == (ROOT / "LICENSE").read_text()

    classifiers = metadata.get_all("Classifier")
    for classifier in (
        "Framework :: Django",
        "Framework :: Django :: 5.2",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.11",
        "Typing :: Typed",
    ):
        assert classifier in classifiers
    requires = metadata.get_all("Requires-Dist")
    assert any(requirement.startswith("Django") for requirement in requires), requires
    assert metadata["Description-Content-Type"] == "text/markdown"


# The catalogues -------------------------------------------------------------------------------


@dataclass
class Entry:
    msgid: str
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: list[str] = field(default_factory=list)
    fuzzy: bool = False

    @property
    def translated(self) -> bool:
        return not self.fuzzy and all(self.msgstr)


def _read_po(path: Path) -> list[Entry]:
    """The entries of a .po file (the header left out), enough of the format for makemessages' output."""
    entries: list[Entry] = []
    current: Entry | None = None
    fuzzy = False
    target: tuple[str, int] = ("", 0)

    def append(text: str) -> None:
        assert current is not None
        name, index = target
        if name == "msgstr":
            current.msgstr[index] += text
        else:
            setattr(current, name, (getattr(current, name) or "") + text)

    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#~"):
            continue
        if line.startswith("#"):
            fuzzy = fuzzy or (line.startswith("#,") and "fuzzy" in line)
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            append(ast.literal_eval(line))
            continue
        text = ast.literal_eval(rest)
        if keyword in ("msgctxt", "msgid") and (current is None or current.msgstr):
            current = Entry(msgid="", fuzzy=fuzzy)
            entries.append(current)
            fuzzy = False
        assert current is not None, line
        if keyword.startswith("msgstr"):
            index = int(keyword[len("msgstr[") : -1]) if "[" in keyword else 0
            current.msgstr.append("")
            target = ("msgstr", index)
        else:
            target = (keyword, 0)
            setattr(current, keyword, "")
        append(text)
    return [entry for entry in entries if entry.msgid]


def _catalogue(lang: str) -> list[Entry]:
    return _read_po(LOCALE / lang / "LC_MESSAGES" / "django.po")


def _compiled(lang: str) -> gettext.GNUTranslations:
    with (LOCALE / lang / "LC_MESSAGES" / "django.mo").open("rb") as mo:
        return gettext.GNUTranslations(mo)


def test_every_language_has_the_templates_messages() -> None:
    template = {(entry.msgctxt, entry.msgid, entry.msgid_plural) for entry in _catalogue("en")}
    assert len(template) > 100
    for lang in LANGUAGES:
        assert {(entry.msgctxt, entry.msgid, entry.msgid_plural) for entry in _catalogue(lang)} == template, lang


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_compiled_catalogue_is_the_current_one(lang: str) -> None:
    """django.mo holds exactly the translated entries of django.po: `make messages` was run after the last edit."""
    compiled = _compiled(lang)
    assert compiled.info()["language"] == lang
    assert compiled.charset().lower() == "utf-8"
    expected: dict[object, str] = {}
    for entry in _catalogue(lang):
        if not entry.translated:
            continue
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            expected[key] = entry.msgstr[0]
        else:
            expected.update({(key, index): text for index, text in enumerate(entry.msgstr)})
    catalog = {key: text for key, text in compiled._catalog.items() if key != ""}  # type: ignore[attr-defined]
    assert catalog == expected


def test_the_english_template_translates_nothing() -> None:
    """English is the source language: its catalogue is the template every translation follows."""
    assert not any(entry.translated for entry in _catalogue("en"))
    with translation.override("en"):
        assert translation.gettext("Credits exhausted") == "Credits exhausted"


def test_the_german_catalogue_loads() -> None:
    """Django finds the app's catalogue (credits/locale) and a host gets the German strings."""
    with translation.override("de"):
        assert translation.gettext("Credits exhausted") == "Credits aufgebraucht"
        assert translation.gettext("Add credits") == "Credits aufladen"
        assert translation.ngettext("%(count)d second", "%(count)d seconds", 30) % {"count": 30} == "30 Sekunden"
        assert (
            translation.gettext("Your earlier %(amount)s top-up went through, so nothing more was charged.")
            % {"amount": "$25"}
            == "Ihre vorherige Aufladung über $25 war erfolgreich, daher wurde nichts weiter abgebucht."
        )
    with translation.override("en"):
        assert translation.gettext("Credits exhausted") == "Credits exhausted"


def test_the_apps_own_words_win_over_the_admins_catalogue() -> None:
    """The admin's German "Add" and "Save" ("Hinzufügen", "Sichern") would win over the app's by
    Django's catalogue order; the app's buttons carry their own context, so "Aufladen" shows."""
    from django.template import Context, Template

    with translation.override("de"):
        assert translation.gettext("Add") != "Aufladen"  # the catalogues disagree without a context
        html = Template(
            '{% load i18n %}{% translate "Add" context "credits" %}|{% translate "Save" context "credits" %}'
        ).render(Context({}))
    assert html == "Aufladen|Speichern"
