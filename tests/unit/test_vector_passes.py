"""VectorUnit.input_passes: how many times a vector kernel streams its input from memory (a row-length rule)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from accelsim import __version__
from accelsim.builders import build_workload
from accelsim.config import load_arch, preset_dir
from accelsim.cost.vector import input_passes, row_length
from accelsim.engine import simulate
from accelsim.hardware import Arch, InputPasses, VectorUnit
from accelsim.mapping import lower
from accelsim.options import Options
from accelsim.report import build_report

# softmax: 3 passes over rows of more than 64 elements (a PyTorch-style dispatch scaled down)
RULE = {"softmax": {"passes": 3, "single_pass_max_cols": 64}}


def _arch(rule: dict | None = None) -> Arch:
    # 1 GHz and 16 GB/s: HBM moves 16 B per cycle; no latency, no L2, no launch; 16 vector lanes
    return Arch.model_validate({
        "name": "tiny", "clock": "1GHz", "dtype": "fp16", "cores": 1,
        "core": {"systolic": {"rows": 4, "cols": 4}, "vector": {"lanes": 16, **({"input_passes": rule} if rule else {})},
                 "sram": {"unified": "1MiB"}},
        "hbm": {"capacity": "1GiB", "bandwidth": "16GB/s"},
    })


def _softmax(arch: Arch, rows: int, cols: int, dtype: str = "fp16") -> dict:
    graph = build_workload("softmax", {"rows": rows, "cols": cols, "dtype": dtype})
    tg = lower(graph, arch, Options())
    return build_report(graph, arch, tg, simulate(tg), name="t", workload={}, version=__version__)


def test_short_rows_are_read_once():
    # 8 × 64 fp16 (rows of 64 ≤ 64 elements: one pass): 512 elements, 1,024 B in + 1,024 B out = 2,048 B of HBM.
    # compute ⌈512 · 10 (softmax lane-cycles) / 16 lanes⌉ = 320 cycles; < 1,000 cycles of work → one tile group,
    # cut in two halves (traffic.ramp_groups): the first half's load 1,024 / 2 / 16 = 32, compute 320 (the second
    # half's load under the first half's compute), the second half's store 32 → 384 cycles (448 in one piece)
    rep = _softmax(_arch(RULE), 8, 64)
    assert rep["bytes"]["hbm"] == 2048
    assert rep["total_cycles"] == 32 + 320 + 32
    assert "input_passes" not in rep["ops"][0]["mapping"]


def test_long_rows_are_read_passes_times():
    # 8 × 128 fp16 (rows of 128 > 64): 1,024 elements, input 2,048 B read 3 times = 6,144 B, output 2,048 B written
    # once → 8,192 B of HBM. compute ⌈1,024 · 10 / 16⌉ = 640 cycles; one group in two halves: the first half's load
    # 6,144 / 2 / 16 = 192, compute 640, the second half's store 2,048 / 2 / 16 = 64 → 896 cycles (768 when read
    # once: 64 + 640 + 64)
    rep = _softmax(_arch(RULE), 8, 128)
    assert rep["bytes"]["hbm"] == 3 * 2048 + 2048
    assert rep["total_cycles"] == 192 + 640 + 64
    assert rep["ops"][0]["mapping"]["input_passes"] == 3
    assert rep["ops"][0]["compute_cycles"] == 640  # the vector work is unchanged, only the bytes
    once = _softmax(_arch(), 8, 128)
    assert once["bytes"]["hbm"] == 2048 + 2048
    assert once["total_cycles"] == 64 + 640 + 64


def test_row_bytes_limit_and_both_limits():
    rule = InputPasses(passes=3, single_pass_max_cols=1024, single_pass_max_row_bytes="4KiB")  # PyTorch's softmax
    assert rule.at(1024, 2) == 1  # 1,024 fp16 = 2 KiB: persistent warp softmax
    assert rule.at(1025, 2) == 3  # more than 1,024 elements
    assert rule.at(1024, 4) == 1  # 1,024 fp32 = 4 KiB
    assert rule.at(1024, 8) == 3  # 1,024 fp64 = 8 KiB > 4 KiB
    assert rule.at(512, 8) == 1
    assert InputPasses(passes=2).at(1, 2) == 2  # no limits: every row
    # the bytes limit on a tiny arch: 64 fp32 elements = 256 B > 128 B → 3 passes; 64 fp16 = 128 B → 1
    arch = _arch({"softmax": {"passes": 3, "single_pass_max_row_bytes": 128}})
    assert _softmax(arch, 8, 64, "fp32")["bytes"]["hbm"] == 3 * 2048 + 2048
    assert _softmax(arch, 8, 64, "fp16")["bytes"]["hbm"] == 2048


def test_bare_number_and_validation():
    vu = VectorUnit.model_validate({"lanes": 8, "input_passes": {"rmsnorm": 2}})
    assert vu.input_passes["rmsnorm"] == InputPasses(passes=2)
    assert vu.passes("rmsnorm", 4096, 2) == 2 and vu.passes("softmax", 4096, 2) == 1
    with pytest.raises(ValidationError):
        VectorUnit.model_validate({"lanes": 8, "input_passes": {"softmax": 0}})


def test_row_is_the_reduced_dim():
    graph = build_workload("layernorm", {"rows": 8, "cols": 96})
    assert row_length(graph.ops[0]) == 96
    op = graph.ops[0]
    assert input_passes(op, VectorUnit(lanes=8, input_passes={"layernorm": {"passes": 2, "single_pass_max_cols": 64}})) == 2
    assert input_passes(op, VectorUnit(lanes=8, input_passes={"layernorm": {"passes": 2, "single_pass_max_cols": 96}})) == 1


def test_default_is_one_pass_and_non_gpu_presets_have_no_rule():
    assert VectorUnit(lanes=8).input_passes == {}
    assert VectorUnit(lanes=8).passes("softmax", 1 << 20, 2) == 1
    gpus = {"a100", "h100", "mi210", "dgx-a100", "dgx-h100", "h200", "b200", "l40s", "dgx-h200", "dgx-b200",
            "mi300x", "mi300x-8", "a100-pcie", "h100-pcie"}  # the GPU presets and nodes
    others = [p.stem for p in preset_dir("arch").glob("*.yaml") if p.stem not in gpus]
    assert "tpu-v1" in others
    for name in others:
        assert load_arch(name).core.vector.input_passes == {}, name
    # the GPU presets carry PyTorch's softmax dispatch
    a100 = load_arch("a100").core.vector
    assert a100.passes("softmax", 1024, 2) == 1 and a100.passes("softmax", 2048, 2) == 3
