"""Output-path fusion (accelsim/mapping/fusion.py, docs/architecture.md): an activation listed in
``core.vector.output_path`` folds into the conv/linear/matmul whose output is its only input.

Every number is a hand calculation on a made-up chip: 45 nm (no node scaling), fp16 (2 bytes), one 4×4 ws array,
an 8 KiB scratchpad, HBM at 4 pJ/bit; activations are kept off chip (``activations_on_chip=False``) so that every
op's input and output cross HBM.
"""

from __future__ import annotations

import pytest

import accelsim
from accelsim.errors import ConfigError


def _arch(output_path: list[str], lanes: int = 16) -> dict:
    return {"name": "tiny-f", "clock": "1GHz", "dtype": "fp16", "cores": 1,
            "core": {"systolic": {"rows": 4, "cols": 4, "dataflow": "ws"},
                     "vector": {"lanes": lanes, "output_path": output_path}, "sram": {"unified": "8KiB"}},
            "hbm": {"capacity": "1GiB", "bandwidth": "16GB/s", "energy_per_bit": 4.0},
            "energy": {"node": "45nm"}}


def _net(*layers: dict, shape=(1, 4, 8, 8)) -> dict:
    return {"model": "layers", "name": "f", "input": list(shape), "layers": list(layers)}


CONV_RELU_CONV = _net({"type": "conv2d", "name": "c1", "out_channels": 8, "kernel_size": 3, "padding": 1},
                      {"type": "relu", "name": "r1"},
                      {"type": "conv2d", "name": "c2", "out_channels": 8, "kernel_size": 1})


def _run(workload: dict, arch: dict) -> dict:
    return accelsim.simulate(workload, arch, activations_on_chip=False).to_dict()


def _rows(report: dict) -> dict[str, dict]:
    return {op["name"]: op for op in report["ops"]}


def test_a_relu_on_the_output_path_does_not_round_trip_memory():
    plain, fused = _run(CONV_RELU_CONV, _arch([])), _run(CONV_RELU_CONV, _arch(["relu"]))
    r_plain, r = _rows(plain)["r1"], _rows(fused)["r1"]
    # c1's output: 8 channels × 8 × 8 = 512 fp16 elements; the separate ReLU reads it and writes its own
    assert r_plain["bytes"]["hbm"] == 2 * 512 * 2
    # fused: no bytes, no tasks, no cycles of its own; its 512 FLOPs stay in the report, on the vector unit
    assert r["bytes"] == {} and r["compute_cycles"] == 0 and r["tiles"] == 0
    assert r["mapping"]["fused_into"] == "c1" and r["unit"] == "core0.vector" and r["flops"] == 512
    assert r["start_cycle"] == r["end_cycle"] == _rows(fused)["c1"]["end_cycle"]
    # the graph's totals are the graph's: unchanged
    assert (fused["macs"], fused["flops"]) == (plain["macs"], plain["flops"])
    # the two convolutions move the same bytes (c2 reads c1's activated output, the same 1024 B)
    for name in ("c1", "c2"):
        assert _rows(fused)[name]["bytes"]["hbm"] == _rows(plain)[name]["bytes"]["hbm"]
    assert fused["bytes"]["hbm"] == plain["bytes"]["hbm"] - 2 * 512 * 2
    # its energy is its FLOPs at vector_pj, by default the dtype's MAC: fp16 1.1 + 0.9 pJ (Horowitz, 45 nm)
    assert r["energy_j"] == pytest.approx(512 * 2.0e-12)
    # output-path time: ⌈512 elements × 1 cycle (relu) / 16 lanes⌉ = 32 cycles, well under c1's compute
    assert r["mapping"]["output_path_cycles"] == 32


def test_the_output_path_bounds_a_short_producer():
    # a 1×1 conv from 1 channel to 4 on 8×8 pixels, one vector lane: ws folds (S_r, S_c, T) = (K, N, M) =
    # (1, 4, 64) on a 4×4 array: one fold of 2R + C + T − 2 = 8 + 4 + 64 − 2 = 74 cycles, minus 1: 73; the ReLU's
    # 4 × 64 = 256 elements through 1 lane take 256 cycles, so the conv's output leaves at the output path's pace
    net = _net({"type": "conv2d", "name": "c", "out_channels": 4, "kernel_size": 1}, {"type": "relu", "name": "r"},
               shape=(1, 1, 8, 8))
    assert _rows(_run(net, _arch([], lanes=1)))["c"]["compute_cycles"] == 73
    fused = _rows(_run(net, _arch(["relu"], lanes=1)))
    assert fused["r"]["mapping"]["output_path_cycles"] == 256
    assert fused["c"]["compute_cycles"] == 256


def test_through_a_folded_batch_norm():
    net = _net({"type": "conv2d", "name": "c1", "out_channels": 8, "kernel_size": 3, "padding": 1, "bias": False},
               {"type": "batchnorm2d", "name": "bn"}, {"type": "relu", "name": "r1"},
               {"type": "conv2d", "name": "c2", "out_channels": 8, "kernel_size": 1})
    rows = _rows(_run(net, _arch(["relu"])))
    assert rows["bn"]["mapping"].get("folded") and rows["r1"]["mapping"]["fused_into"] == "c1"


@pytest.mark.parametrize("net, why", [
    # c1's output has a second reader (the add), so the ReLU's input must be written anyway
    (_net({"type": "conv2d", "name": "c1", "out_channels": 4, "kernel_size": 3, "padding": 1},
          {"type": "relu", "name": "r1"}, {"type": "add", "name": "a", "inputs": ["c1", "r1"]}), "two readers"),
    # the producer is an element-wise add, not a matmul
    (_net({"type": "add", "name": "a", "inputs": ["input", "input"]}, {"type": "relu", "name": "r1"}), "add"),
    # sigmoid is not on this core's output path
    (_net({"type": "conv2d", "name": "c1", "out_channels": 4, "kernel_size": 3, "padding": 1},
          {"type": "sigmoid", "name": "r1"}), "not listed"),
])
def test_what_is_not_fused(net, why):
    r = _rows(_run(net, _arch(["relu"])))["r1"]
    assert "fused_into" not in r["mapping"] and r["bytes"]["hbm"] > 0, why


def test_an_unknown_output_path_function_is_one_line_naming_the_key():
    with pytest.raises(ConfigError) as info:
        accelsim.simulate(CONV_RELU_CONV, _arch(["relu", "swish2"]))
    lines = str(info.value).splitlines()
    assert len(lines) == 1 and "core.vector.output_path" in lines[0] and "swish2" in lines[0]


def test_presets_that_apply_activations_on_the_output_path():
    # Eyeriss's ReLU module (Chen et al., JSSC 2017) and TPU v1's activation unit (Jouppi et al., ISCA 2017);
    # GPU presets run PyTorch eager, which writes every activation
    from accelsim.config import load_arch
    assert load_arch("eyeriss-like").core.vector.output_path == ("relu",)
    assert "relu" in load_arch("tpu-v1").core.vector.output_path
    assert load_arch("a100").core.vector.output_path == ()
