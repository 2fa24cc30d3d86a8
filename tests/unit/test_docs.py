"""docs/configuration.md documents every key the models accept (a drift guard: a new field needs a doc line)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from accelsim.builders.registry import BUILDERS
from accelsim.hardware import Arch
from accelsim.options import Options

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, info in model.model_fields.items():
        sub = [a for a in getattr(info.annotation, "__args__", (info.annotation,)) if isinstance(a, type)
               and issubclass(a, BaseModel)]
        if sub:
            keys += _keys(sub[0], f"{prefix}{name}.")
        else:
            keys.append(prefix + name)
    return keys


def test_every_arch_key_is_documented():
    keys = _keys(Arch)
    assert "core.systolic.dataflow" in keys and "hbm.bandwidth" in keys  # the walk reaches nested models
    missing = [k for k in keys if f"`{k}`" not in DOC and f"`{k.split('.')[0]}.{k.split('.')[-1]}`" not in DOC]
    assert not missing, f"undocumented arch keys: {missing}"


def test_every_option_and_workload_parameter_is_documented():
    missing = [k for k in Options.model_fields if f"`{k}`" not in DOC]
    for name, entry in BUILDERS.items():
        assert f"`{name}`" in DOC, name
        missing += [f"{name}.{k}" for k in entry.params.model_fields if f"`{k}`" not in DOC]
    assert not missing, f"undocumented keys: {missing}"
