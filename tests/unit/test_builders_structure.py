"""The builders package's structure: every module imports on its own, each params model lives beside its builder,
and the registry is imported back by no module (no import cycle through it)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from accelsim.builders import BUILDERS
from accelsim.builders.params import WorkloadParams

BUILDERS_DIR = Path(__file__).resolve().parents[2] / "accelsim" / "builders"
MODULES = sorted(p.stem for p in BUILDERS_DIR.glob("*.py") if p.stem != "__init__")


def test_every_builders_module_imports_first_in_a_fresh_interpreter():
    # a cycle shows when the module in it is the first one imported: run each module first, all at once
    procs = {m: subprocess.Popen([sys.executable, "-c", f"import accelsim.builders.{m}"], stderr=subprocess.PIPE,
                                 text=True) for m in MODULES}
    failed = {m: p.communicate()[1].strip().splitlines()[-1:] for m, p in procs.items() if p.wait() != 0}
    assert not failed
    assert {"registry", "build", "params", "cnn", "transformer"} <= set(MODULES)


def _sibling_imports(module: str) -> set[str]:
    """The builders modules ``module`` imports (``from . import x`` and ``from .x import ...``), anywhere in it."""
    out = set()
    for node in ast.walk(ast.parse((BUILDERS_DIR / f"{module}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out |= {node.module} if node.module else {a.name for a in node.names}
    return out


def test_no_builder_module_imports_the_registry():
    # the registry maps names to (builder, params model); the builder modules own their params models and never
    # import it back; only build (name → graph) uses it
    importers = {m for m in MODULES if "registry" in _sibling_imports(m)}
    assert importers == {"build"}


def test_each_params_model_lives_beside_its_builder():
    for entry in BUILDERS.values():
        assert issubclass(entry.params, WorkloadParams)
        assert entry.params.__module__ == entry.fn.__module__, entry.name
