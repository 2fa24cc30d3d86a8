"""Probe p65 (the Python API used as a tutorial): a sweep from a script read from stdin, an Arch changed with
model_copy, lint of hand-made ops and graph inputs, an empty graph, a trace a composed run did not keep, the
architecture.md example's meta and a preset name given to simulate."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import accelsim
from accelsim.builders.layers import GraphBuilder
from accelsim.config import load_arch
from accelsim.errors import AccelsimError, ConfigError, WorkloadError
from accelsim.ir import Gemm, Graph, Op, OpKind

ROOT = Path(__file__).resolve().parents[2]
GEMM = {"model": "gemm", "m": 64, "n": 64, "k": 64}


def _one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text, text
    return text


# ---- 1. a sweep from a script read from stdin ---------------------------------------------------------------------

def test_guarded_sweep_script_read_from_stdin_runs(tmp_path):
    # the probe's repro: `python - <<EOF` with the guard lost every worker (FileNotFoundError: '<stdin>') and the
    # error said the guard was missing; two grid points, so 2 run, 2 ok, 0 failed, exit status 0
    (tmp_path / "s.yaml").write_text("name: s\nbase: {workload: {model: gemm, m: 64, n: 64, k: 64}, arch: tpu-v1}\n"
                                     "grid:\n  arch.core.systolic.rows: [16, 32]\n")
    script = ("import sys\nfrom accelsim.sweep import run_sweep\nif __name__ == '__main__':\n"
              "    s = run_sweep('s.yaml', 'out', workers=1, progress=False, plots=False)\n"
              "    print(s.points, s.ok, s.failed, s.exit_status, sys.modules['__main__'].__file__)\n")
    done = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, timeout=240,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["2", "2", "0", "0", "<stdin>"]  # __file__ is given back after the sweep
    assert "FileNotFoundError" not in done.stderr


def test_main_whose_file_is_not_a_file_is_run_as_interactive(tmp_path, monkeypatch):
    from accelsim.sweep.executors import _main_as_interactive, main_guard_hint

    stdin = types.ModuleType("__main__")
    stdin.__file__, stdin.__spec__ = "<stdin>", None
    monkeypatch.setitem(sys.modules, "__main__", stdin)
    assert main_guard_hint() == ""  # its text cannot be read: never "the guard is missing"
    with _main_as_interactive():
        assert not hasattr(stdin, "__file__")  # what multiprocessing reads to re-run a script in a worker
    assert stdin.__file__ == "<stdin>"
    script = tmp_path / "real.py"
    script.write_text("import accelsim\n")
    real = types.ModuleType("__main__")
    real.__file__, real.__spec__ = str(script), None
    monkeypatch.setitem(sys.modules, "__main__", real)
    with _main_as_interactive():
        assert real.__file__ == str(script)  # a real script is left for the workers to import (guarded)


# ---- 2. an Arch changed with model_copy is validated again ---------------------------------------------------------

def test_an_arch_from_model_copy_gets_the_mapping_forms_one_line_errors():
    a = load_arch("tpu-v1")
    with pytest.raises(ConfigError) as bad:
        accelsim.simulate(GEMM, a.model_copy(update={"cores": 0}))
    with pytest.raises(ConfigError) as mapping:
        accelsim.simulate(GEMM, {"base": "tpu-v1", "cores": 0})
    assert _one_line(bad) == _one_line(mapping) == "<input>: arch.cores: Input should be greater than 0 (got 0)"
    systolic = a.core.systolic.model_copy(update={"rows": -5})
    nested = a.model_copy(update={"core": a.core.model_copy(update={"systolic": systolic})})
    with pytest.raises(ConfigError) as e:
        accelsim.simulate(GEMM, nested)
    assert _one_line(e) == "<input>: arch.core.systolic.rows: Input should be greater than 0 (got -5)"
    with pytest.raises(ConfigError) as e:  # was a multi-line pydantic ValidationError
        load_arch(a.model_copy(update={"cores": 0}))
    assert _one_line(e).endswith("arch.cores: Input should be greater than 0 (got 0)")


def test_a_clock_set_with_model_copy_is_parsed_and_a_derived_key_is_refused():
    a = load_arch("tpu-v1")
    faster = a.model_copy(update={"clock": "1.4GHz"})  # a string: crashed deep in the run (TypeError)
    assert load_arch(faster).clock_hz == 1.4e9
    assert accelsim.simulate(GEMM, faster).total_cycles == \
        accelsim.simulate(GEMM, {"base": "tpu-v1", "clock": "1.4GHz"}).total_cycles
    with pytest.raises(ConfigError) as e:  # clock_hz is a property of clock: was silently ignored
        accelsim.simulate(GEMM, a.model_copy(update={"clock_hz": 1.4e9}))
    assert _one_line(e).startswith("<input>: arch.clock_hz: Arch.clock_hz is a figure derived from its fields")
    assert "did you mean 'clock'?" in str(e.value) and "load_arch(arch, ['KEY=VALUE'])" in str(e.value)
    assert load_arch(a, ["core.systolic.rows=128"]).core.systolic.rows == 128  # the documented way


# ---- 3 and 5. Graph lint: dtype, kind, inputs, an empty graph; GraphBuilder's input shape -------------------------

def _mm(**kw) -> Op:
    # a 4x16 @ 16x8 linear: 4·8·16 = 512 MACs
    args = {"name": "mm", "kind": OpKind.LINEAR, "inputs": ("input",), "in_shapes": ((4, 16),), "out_shape": (4, 8),
            "dtype": "int8", "macs": 512, "gemm": Gemm(4, 8, 16, 1)} | kw
    return Op(**args)


@pytest.mark.parametrize("dtype", ["int7", "INT8"])
def test_an_unknown_dtype_is_a_workload_error_naming_the_op(dtype):
    b = GraphBuilder("x", (4, 16), dtype=dtype)
    b.linear(b.input, 8)
    with pytest.raises(WorkloadError) as e:
        b.build()
    assert _one_line(e).startswith(f"x: op 'linear' has dtype {dtype!r}, which is unknown; did you mean 'int8'?")
    with pytest.raises(WorkloadError, match=r"g: op 'mm' has dtype 'int7'"):
        Graph("g", [_mm(dtype="int7")], {"input": (4, 16)})


def test_a_kind_that_is_not_an_opkind_is_a_workload_error():
    with pytest.raises(WorkloadError) as e:
        Graph("g", [_mm(kind="linear")], {"input": (4, 16)})
    assert _one_line(e) == "g: op 'mm' has kind 'linear', not an OpKind: write OpKind.LINEAR"


def test_graph_inputs_must_map_names_to_shapes():
    with pytest.raises(WorkloadError) as e:
        Graph("g", [_mm()], ["input"])
    assert _one_line(e).startswith("g: inputs must map each graph input's name to its shape")
    with pytest.raises(WorkloadError, match=r"g: graph input 'input' has shape '4x16'"):
        Graph("g", [_mm()], {"input": "4x16"})
    assert Graph("g", [_mm()], {"input": (4, 16)}).macs == 512


@pytest.mark.parametrize("shape", ["abc", (4, 1.5), 16])
def test_graph_builder_input_shape_is_checked(shape):
    with pytest.raises(WorkloadError) as e:
        GraphBuilder("x", shape)
    assert _one_line(e).startswith("x: input shape must be a sequence of positive sizes")


def test_an_empty_graph_is_a_workload_error_when_simulated():
    # it simulated to 0 cycles and 0 s with no note; building one stays allowed (an argument to what reads a graph)
    empty = GraphBuilder("x", (4, 16)).build()
    assert len(empty) == 0
    with pytest.raises(WorkloadError) as e:
        accelsim.simulate(empty, "tpu-v1")
    assert _one_line(e) == "graph x has no ops: append its layers before building it"


# ---- 4. save(trace=True) of a run that kept no trace ---------------------------------------------------------------

def test_save_trace_of_a_composed_run_without_trace_names_the_fix(tmp_path):
    wl = {"model": "gpt2", "seq_len": 16, "decode_steps": 2, "layers": 1}
    plain = accelsim.simulate(wl, "a100", plots=False)
    assert plain.segments == []  # a composed run keeps its passes only when traced
    with pytest.raises(AccelsimError) as e:
        plain.save(tmp_path / "plain", trace=True)
    assert "only when simulated with trace=True" in _one_line(e) and "loaded from a file" not in str(e.value)
    assert not (tmp_path / "plain").exists()
    traced = accelsim.simulate(wl, "a100", plots=False, trace=True)
    assert len(traced.segments) == 3  # the prefill and 2 decode steps
    traced.save(tmp_path / "traced", trace=True)
    assert (tmp_path / "traced" / "trace.json").stat().st_size > 0


# ---- 6. the architecture.md example keeps the builder's meta -------------------------------------------------------

def test_architecture_md_python_example_keeps_batch_and_dtype(capsys):
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = re.search(r"### Ops defined in Python.*?```python\n(.*?)```", text, re.S).group(1)
    assert "meta=built.meta" in block
    scope: dict = {}
    exec(compile(block, "architecture.md", "exec"), scope)
    capsys.readouterr()
    workload = scope["report"]["workload"]
    # GraphBuilder("mlp_custom", (8, 1024), dtype="int8"): batch is the one input's dim 0
    assert (workload["name"], workload["batch"], workload["dtype"]) == ("mlp_custom", 8, "int8")


# ---- 7. a preset name that is not a workload's ---------------------------------------------------------------------

@pytest.mark.parametrize(("name", "call"), [
    ("llama2_7b_h100", "accelsim.serve('llama2_7b_h100')"),
    ("resnet50_tpu_v1", "accelsim.run_experiment(accelsim.load_experiment('resnet50_tpu_v1'))"),
    ("resnet50_array_dataflow_sweep", "accelsim.sweep.run_sweep('resnet50_array_dataflow_sweep')"),
])
def test_simulate_of_an_experiment_or_serving_preset_names_the_call(name, call):
    kind = {"llama2_7b_h100": "serving", "resnet50_tpu_v1": "experiment"}.get(name, "sweep")
    with pytest.raises(ConfigError) as e:
        accelsim.simulate(name, "h100")
    assert _one_line(e).startswith(f"<input>: workload: {name!r} is a{'n' if kind == 'experiment' else ''} "
                                   f"{kind} preset")
    assert call in str(e.value) and "did you mean" not in str(e.value)


def test_simulate_of_an_unknown_name_still_lists_the_workloads():
    with pytest.raises(ConfigError, match=r"<input>: workload: unknown workload; did you mean 'resnet50'\?"):
        accelsim.simulate("resnet5O", "tpu-v1")


def test_a_preset_of_another_kind_given_as_arch_or_workload_says_what_it_is():
    # probe p71 #6: an experiment or workload preset's name as the arch said only "unknown arch preset" with 26
    # names; it now says what the name is (the workload side too: an arch preset's name as the workload)
    import accelsim

    for workload, arch, said in (("resnet50", "resnet50_tpu_v1", "'resnet50_tpu_v1' is an experiment preset, not an "
                                  "arch preset"), ("resnet50", "resnet50", "'resnet50' is a workload preset, not an "
                                  "arch preset"), ("tpu-v4", "h100", "'tpu-v4' is an arch preset, not a workload")):
        with pytest.raises(accelsim.AccelsimError) as info:
            accelsim.simulate(workload, arch)
        assert said in str(info.value) and "\n" not in str(info.value)
