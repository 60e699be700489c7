"""The layers of ``credits/`` (README, "Architecture"): every module imports only from its
own layer or below, so there is no import cycle inside the app, and none can come back.

Imports are read from the source (also those inside functions and under TYPE_CHECKING), so a
lazy import upward counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "credits"

# Bottom first. A module not listed is an edge (layer 7), which may import anything below it.
LAYERS: dict[str, int] = {
    "credits": 1,  # the package itself: its version
    "credits.conf": 1,
    "credits.codes": 1,
    "credits.exceptions": 1,
    "credits.wire": 1,
    "credits.words": 1,
    "credits.amounts": 1,
    "credits.outcomes": 1,
    "credits.forecast": 1,
    "credits.charts": 1,
    "credits.models": 2,
    "credits.signals": 2,
    "credits.db": 2,
    "credits.client": 3,
    "credits.balance": 3,
    "credits.settlement": 4,
    "credits.claims": 4,
    "credits.topups": 5,
    "credits.autotopup": 6,
    "credits.samples": 6,
    "credits.alerts": 6,
    "credits.permissions": 2,
}
EDGE = 7


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def app_imports(path: Path) -> set[str]:
    """The modules of ``credits`` that ``path`` imports (``from . import x`` names module ``x``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    return imports_in(path.read_text(), name, package)


def imports_in(source: str, name: str, package: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "credits"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "credits":
                continue
            modules = {f"{target}.{alias.name}" for alias in node.names}
            found |= {m for m in modules if (APP.parent / m.replace(".", "/")).with_suffix(".py").exists()} or {target}
    return found - {name}


def layer(name: str) -> int:
    return LAYERS.get(name, EDGE)


RUNTIME = sorted(p for p in APP.rglob("*.py") if "migrations" not in p.parts and "testing" not in p.parts)
GRAPH = {module_name(p): app_imports(p) for p in RUNTIME}


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_a_module_imports_only_its_layer_and_below(name):
    upward = sorted(target for target in GRAPH[name] if layer(target) > layer(name))
    assert not upward, f"{name} (layer {layer(name)}) imports upward: {upward}"


def test_there_is_no_import_cycle_inside_the_app():
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        path.append(name)
        for target in sorted(GRAPH.get(name, ())):
            visit(target)
        path.pop()
        done.add(name)

    for name in GRAPH:
        visit(name)


def test_nothing_at_run_time_imports_the_sandbox():
    """``credits.testing`` is for tests and demos: no runtime module imports it."""
    assert not {name for name, targets in GRAPH.items() if any(t.startswith("credits.testing") for t in targets)}


def test_the_walk_sees_a_lazy_import_upward():
    """The check itself can fail: an import upward inside a function is found."""
    assert "credits.topups" not in GRAPH["credits.claims"]
    lazy = "def f():\n    from .topups import request_topup\n"
    assert imports_in(lazy, "credits.claims", "credits") == {"credits.topups"}
