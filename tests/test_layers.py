"""The library's layers point one way (issue 11, ../shared/STYLE.md "Layers"): data/,
compression/, metrics/ and stats/ never import the run object, the plugin, the command line,
the gates or pytest, so a notebook can use each without the pytest machinery."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pytest_fairquant

PACKAGE = Path(pytest_fairquant.__file__).parent
CORE = ("data", "compression", "metrics", "stats")
#: What a core module may not import: the layers above it, and pytest.
ABOVE = ("run", "plugin", "cli", "gate", "settings", "report", "snapshot")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in ``path`` (relative ones resolved)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return out


@pytest.mark.parametrize("layer", CORE)
def test_core_layers_import_nothing_above_them(layer: str) -> None:
    forbidden = tuple(f"pytest_fairquant.{name}" for name in ABOVE)
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: imports {module}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for line, module in _imports(path)
        if module in ("pytest", "_pytest")
        or module.startswith(("pytest.", "_pytest."))
        or any(module == f or module.startswith(f + ".") for f in forbidden)
    ]
    assert not found, "\n".join(found)


def test_the_import_scan_resolves_relative_imports() -> None:
    # The scan itself: stats/_compare.py's `from ..metrics._confusion import ...` and
    # `from .spec import ...` resolve to absolute names (so a `from ..gate import` would too).
    modules = [module for _, module in _imports(PACKAGE / "stats" / "_compare.py")]
    assert "pytest_fairquant.metrics._confusion" in modules
    assert "pytest_fairquant.stats.spec.GateSpec" in modules
