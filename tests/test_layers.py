"""The dependency rule of docs/architecture: data flows one way through the layers.

framing imports nothing of the package; transport imports only errors; link imports transport and
framing; driver/instruments import link and driver; discovery imports transport and driver; engine
imports driver, discovery and storage; widgets import engine; nothing below widgets imports widgets.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "ionpy_widgets"

BASE = {"errors"}
ALLOWED: dict[str, set[str]] = {
    "framing": {"framing"},
    "transport": {"transport"} | BASE,
    "link": {"link", "transport", "framing"} | BASE,
    "driver": {"driver", "instruments", "link", "transport", "framing"} | BASE,
    "instruments": {"driver", "instruments", "link", "transport", "framing"} | BASE,
    "discovery": {"discovery", "driver", "instruments", "link", "transport", "framing"} | BASE,
    "engine": {"engine", "discovery", "driver", "instruments", "link", "transport", "framing"} | BASE,
    "widgets": {"widgets", "engine", "discovery", "driver", "instruments", "link", "transport", "framing"} | BASE,
    "errors": set(),
}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str | None = None) -> list[tuple[int, str]]:
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # `from . import x` imports submodules by name
            if node.module is None:
                found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] == "ionpy_widgets"]


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "static" not in p.parts)


def test_every_layer_module_is_classified() -> None:
    top = {"", "cli", "__main__", "testing"}
    unknown = {_layer(_module_name(p)) for p in _modules()} - set(ALLOWED) - top
    assert not unknown, f"new top-level modules need a place in the layer rule: {sorted(unknown)}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_layer_dependencies(path: Path) -> None:
    layer = _layer(_module_name(path))
    if layer not in ALLOWED:  # package root, cli and testing helpers may use any layer
        if layer not in ("", "cli", "__main__", "testing"):
            pytest.fail(f"unclassified module {path}")
        allowed = None
    else:
        allowed = ALLOWED[layer]
    bad = []
    for line, name in _imports(path):
        target = _layer(name)
        if allowed is None:
            if target == "widgets" and layer in ("testing",):
                bad.append((line, name))
            continue
        if target and target not in allowed:
            bad.append((line, name))
    assert not bad, f"{path.relative_to(PKG)} ({layer}) imports across the layer rule: {bad}"


def test_rule_catches_a_violation(tmp_path: Path) -> None:
    fake = tmp_path / "x.py"
    fake.write_text("from ..errors import IonpyError\nfrom ionpy_widgets.engine import lab\nimport os\n")
    found = _imports(fake, "ionpy_widgets.framing.x")
    assert found == [(1, "ionpy_widgets.errors"), (2, "ionpy_widgets.engine")]
    assert {_layer(n) for _, n in found}.isdisjoint(ALLOWED["framing"])
