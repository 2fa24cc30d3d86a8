"""The config package's structure: its modules share helpers through public names only."""

from __future__ import annotations

import ast
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[2] / "accelsim" / "config"


def test_config_modules_import_no_private_names():
    # a helper two modules need is public in the module that owns it (docs.py: Issues, file_doc, section_doc;
    # load.py: experiment_from_doc), never reached for through an underscore name
    private = []
    for path in sorted(CONFIG.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                private += [f"{path.name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert private == []

