"""The chat is a host of the credits app like any other: it uses only the app's public API."""

from __future__ import annotations

import ast
from pathlib import Path

import chat

# The credits app's public names (README, "Public API") that the chat uses; anything else in
# credits is the app's own and may change under it.
PUBLIC = {
    "credits.balance": {"BalanceUnavailable", "read_balance", "get_balance", "peek_balance", "last_topup_at"},
    "credits.client": {"redact"},
    "credits.conf": {"load_settings"},
    "credits.testing": {"spend", "override_transport"},
    "credits.autotopup": {"on_its_way"},
    "credits.models": {"format_dollars"},
}


def credits_imports() -> list[tuple[str, str, str]]:
    found = []
    for path in Path(chat.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "credits":
                found += [(path.name, node.module or "", alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                found += [(path.name, alias.name, "") for alias in node.names if alias.name.startswith("credits")]
    return found


def test_the_chat_imports_only_public_names_of_the_credits_app():
    imports = credits_imports()
    assert imports  # the scan sees the chat's imports
    private = [(file, module, name) for file, module, name in imports if name not in PUBLIC.get(module, set())]
    assert private == []


def test_the_log_in_lives_in_reef_site_not_in_the_chat():
    folder = Path(chat.__file__).parent
    assert not (folder / "magic.py").exists() and not (folder / "management").exists()
    assert "MagicLink" not in (folder / "models.py").read_text()
