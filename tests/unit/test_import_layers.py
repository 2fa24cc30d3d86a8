"""Imports point down (STYLE.md): no module imports a higher layer, L2 packages do not import each other,
and the heavy or stage-specific libraries are imported only where they belong."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "accelsim"

LAYERS = {
    "cli": 4, "sweep": 4,
    "api": 3.5, "serving": 3.3, "scenarios": 3.25, "config": 3,
    "builders": 2, "mapping": 2, "engine": 2, "report": 2,
    "cost": 1.5, "energy": 1.5,
    "ir": 1, "hardware": 1, "tasks": 1, "trace": 1, "options": 1,
    "errors": 0, "units": 0, "draws": 0,
}
# third-party modules only these top-level parts may import
ONLY_IN = {"simpy": {"engine"}, "yaml": {"config"}, "matplotlib": {"report"}, "dask": {"sweep"},
           "rich": {"cli", "report", "sweep"}, "torch": {"builders"}, "onnx": {"builders"}}


def _imports(path: Path) -> list[tuple[str, int]]:
    """(absolute module name, line) of every import in a file of the package."""
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    package = parts if path.name == "__init__.py" else parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    found += [(f"{mod}.{a.name}", node.lineno) for a in node.names]
                    continue
            else:
                mod = node.module or ""
            found.append((mod, node.lineno))
    return found


def _part(module: str) -> str | None:
    bits = module.split(".")
    return bits[1] if bits[0] == "accelsim" and len(bits) > 1 else None


FILES = sorted(p for p in PKG.rglob("*.py") if "_presets" not in p.parts)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_point_down(path):
    me = path.relative_to(PKG).parts[0].removesuffix(".py")
    if me in ("__init__", "__main__"):
        return  # the package root re-exports the API lazily; __main__ calls the CLI
    assert me in LAYERS, f"{me} has no layer: add it to STYLE.md's table and this test"
    for module, line in _imports(path):
        other = _part(module)
        if other and other != me and other not in ("__init__",):
            if other == "__version__" or module == "accelsim":
                continue
            assert LAYERS[other] < LAYERS[me] or (LAYERS[other] == LAYERS[me] == 4), (
                f"{path.relative_to(PKG)}:{line} imports {module} (layer {LAYERS[other]}) from layer {LAYERS[me]}")
        top = module.split(".")[0]
        if top in ONLY_IN:
            assert me in ONLY_IN[top], f"{path.relative_to(PKG)}:{line} imports {top}, allowed only in {ONLY_IN[top]}"


def test_the_walk_sees_relative_imports():
    # the check above is only meaningful if relative imports resolve: the engine imports accelsim.tasks
    mods = {m for m, _ in _imports(PKG / "engine" / "sim.py")}
    assert "accelsim.tasks" in mods and "simpy" in mods
