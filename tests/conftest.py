"""Shared test helpers: small hand-built graphs and architectures that need no preset files."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from accelsim.hardware import UNIT_KINDS, Arch
from accelsim.ir import Gemm, Graph, Op, OpKind, Weight


def make_arch(*, rows=16, cols=16, dataflow="ws", cores=1, bandwidth="16GB/s", latency="0ns", sram=None,
              host=True, hbm_capacity="8GiB", host_capacity="64GiB", clock="1GHz", lanes=16,
              double_buffered=True, levels=None) -> Arch:
    """A small one-array-per-core chip; every size can be overridden; ``levels`` adds memory levels."""
    return Arch.model_validate({
        "name": "test", "clock": clock, "dtype": "int8", "cores": cores,
        "core": {"systolic": {"rows": rows, "cols": cols, "dataflow": dataflow},
                 "vector": {"lanes": lanes},
                 "sram": dict(sram or {"ifmap": "64KiB", "filter": "64KiB", "ofmap": "64KiB"},
                              double_buffered=double_buffered)},
        "hbm": {"capacity": hbm_capacity, "bandwidth": bandwidth, "latency": latency},
        "host": {"capacity": host_capacity, "bandwidth": "8GB/s", "latency": "1us"} if host else None,
        "levels": levels or {},
    })


def linear_op(name, src, rows, fin, fout, dtype="int8") -> Op:
    g = Gemm(rows, fout, fin)
    return Op(name, OpKind.LINEAR, (src,), ((rows, fin),), (rows, fout), dtype, (Weight(f"{name}.w", (fout, fin)),),
              g.macs, 2 * g.macs, g)


def relu_op(name, src, shape, dtype="int8") -> Op:
    n = 1
    for d in shape:
        n *= d
    return Op(name, OpKind.ACTIVATION, (src,), (shape,), shape, dtype, (), 0, n, None, n, {"fn": "relu"})


def mlp_graph(layers=4, rows=256, width=512, dtype="int8") -> Graph:
    """A chain linear → relu → linear → relu ... of ``layers`` linear layers (rows × width activations)."""
    ops, prev = [], "input"
    for i in range(layers):
        ops.append(linear_op(f"fc{i}", prev, rows, width, width, dtype))
        ops.append(relu_op(f"relu{i}", f"fc{i}", (rows, width), dtype))
        prev = f"relu{i}"
    return Graph("mlp", ops, {"input": (rows, width)})


def branches_graph(branches=2, rows=512, width=512) -> Graph:
    """``branches`` independent linear layers reading the same input (no dependencies between them)."""
    ops = [linear_op(f"fc{i}", "input", rows, width, width) for i in range(branches)]
    return Graph("branches", ops, {"input": (rows, width)})


def graph_builds(**build_kw):
    """``get(name, **params)``: ``build_workload(name, params, **build_kw)``, each distinct build once (a module's
    ``graph`` fixture: its tests read the same graphs)."""
    from accelsim.builders import build_workload

    cache = {}

    def get(name: str, **params: object):
        key = (name, tuple(sorted(params.items())))
        if key not in cache:
            cache[key] = build_workload(name, params, **build_kw)
        return cache[key]

    return get


@pytest.fixture
def arch():
    return make_arch()


PLUGIN_EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "plugins"


@pytest.fixture
def cim():
    """docs/examples/plugins' crossbar unit kind, imported as an arch's ``plugins`` imports it (its folder on
    sys.path); afterwards the kind is unregistered and the module forgotten, so other tests see the registry as it
    was."""
    sys.path.insert(0, str(PLUGIN_EXAMPLE))
    try:
        yield importlib.import_module("cim_crossbar")
    finally:
        sys.path.remove(str(PLUGIN_EXAMPLE))
        UNIT_KINDS.pop("cim_crossbar", None)
        sys.modules.pop("cim_crossbar", None)


@pytest.fixture
def here(tmp_path, monkeypatch):
    """Run from a temporary folder so files print by their bare names (a test file may define its own)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli_errors(capsys, argv: list[str]) -> list[str]:
    """The lines ``accelsim ARGV`` prints to stderr, which must exit with status 2 (bad input)."""
    from accelsim.cli import main

    assert main(argv) == 2
    return capsys.readouterr().err.strip().splitlines()


def cli_error(capsys, argv: list[str]) -> str:
    """The one line ``accelsim ARGV`` prints to stderr, which must exit with status 2 (bad input)."""
    (line,) = cli_errors(capsys, argv)
    return line


def preset_line(preset: str, key: str, indent: str = "") -> int:
    """The 1-based line of ``key:`` in a shipped workload preset (read from the file, not copied from the output)."""
    text = (Path(__file__).resolve().parents[1] / "workloads" / f"{preset}.yaml").read_text().splitlines()
    return 1 + next(i for i, t in enumerate(text) if t.startswith(f"{indent}{key}:"))


def layer_file(layer: str, input_shape: str = "[20, 1, 128]") -> str:
    """A ``model: layers`` file ``l.yaml`` in the current folder whose one layer, ``layer``, is on line 5."""
    Path("l.yaml").write_text(f"model: layers\nname: bad\ninput: {input_shape}\nlayers:\n  - {layer}\n")
    return "l.yaml"
