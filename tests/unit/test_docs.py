"""docs/configuration.md documents every key the models accept (a drift guard: a new field needs a doc line)."""

from __future__ import annotations

import re
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


def _section(heading: str) -> str:
    """configuration.md's ``## heading`` section, up to the next ``## `` heading."""
    start = DOC.index(f"\n## {heading}")
    end = DOC.find("\n## ", start + 1)
    return DOC[start:end if end >= 0 else len(DOC)]


def _builder_docs() -> tuple[str, list[str], dict[str, str]]:
    """The workload section's prose (its lines outside tables: keys every workload or a family takes), its table
    rows, and each ``### ... `model: NAME` ...`` subsection by NAME (every line of it is that builder's)."""
    section = _section("Workload (")
    prose = "\n".join(line for line in section.splitlines() if not line.startswith("|"))
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    subsections = {}
    for part in re.split(r"\n(?=### )", section)[1:]:
        for name in re.findall(r"`model: (\w+)`", part.splitlines()[0]):
            subsections[name] = part
    return prose, rows, subsections


def test_every_option_and_workload_parameter_is_documented():
    options = _section("Options (")
    missing = [k for k in Options.model_fields if f"| `{k}` |" not in options]
    prose, rows, subsections = _builder_docs()
    for name, entry in BUILDERS.items():
        assert f"`{name}`" in DOC, name
        # a parameter is documented in the prose, in a table row that names this builder (its own row, or another
        # family's row saying "also `hf`"), or in the builder's own subsection; anywhere in the file was not
        # enough: llama2_7b's and gpt2's `layers` passed on gpt's row and `model: layers`
        own = "\n".join([*(row for row in rows if f"`{name}`" in row), subsections.get(name, "")])
        missing += [f"{name}.{k}" for k in entry.params.model_fields if f"`{k}`" not in prose and f"`{k}`" not in own]
    assert not missing, f"undocumented keys: {missing}"


def test_workload_table_rows_are_one_line_each():
    # a markdown table row ends at its line: a row broken over lines renders its rest as rows of their own (the
    # LLaMA-2 row was split after its `logits` text)
    section = _section("Workload (")
    lines = section.splitlines()
    for i, line in enumerate(lines[1:], 1):
        if lines[i - 1].startswith("|") and line and not line.startswith("|"):
            raise AssertionError(f"a table row continues on a line of its own: {line[:80]!r}")


ARCHITECTURE = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()


def test_the_python_graph_example_of_architecture_md_runs(capsys):
    # "Ops defined in Python": a GraphBuilder linear and a hand-made op of a new vector function, simulated as is
    block = re.search(r"### Ops defined in Python.*?```python\n(.*?)```", ARCHITECTURE, re.S).group(1)
    scope: dict = {}
    exec(compile(block, "architecture.md", "exec"), scope)
    rows = {op["name"]: op for op in scope["report"]["ops"]}
    assert rows["fc1"]["macs"] == 8 * 1024 * 4096  # torch.nn.Linear(1024, 4096) on 8 rows
    # 8 x 4096 elements at the 20 lane-cycles the arch gives my_act, on tpu-v1's 256 lanes (arch/tpu-v1.yaml)
    assert rows["act"]["compute_cycles"] == 8 * 4096 * 20 // 256
    assert capsys.readouterr().out.split() == [str(8 * 1024 * 4096), str(8 * 4096 * 20 // 256)]


def test_a_vector_function_no_table_prices_gets_a_note():
    from accelsim import simulate
    from accelsim.ir import Graph, Op, OpKind

    op = Op("act", OpKind.ACTIVATION, ("x",), ((8, 4096),), (8, 4096), dtype="int8", flops=20 * 8 * 4096,
            vector_elems=8 * 4096, attrs={"fn": "my_act"})
    rep = simulate(Graph("g", [op], {"x": (8, 4096)}), "tpu-v1").to_dict()
    # without cycles_per_element.my_act: the default 1 lane-cycle per element, 32,768 / 256 lanes = 128 cycles
    assert rep["ops"][0]["compute_cycles"] == 8 * 4096 // 256
    (note,) = [n for n in rep["notes"] if "my_act" in n]
    assert "not by its 655,360 declared FLOPs" in note and "arch.core.vector.cycles_per_element.my_act" in note
