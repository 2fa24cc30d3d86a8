"""GPU-style mapping: output tiles in waves over the cores, a shared L2, and kernel launches."""

from __future__ import annotations

import math

import pytest

from accelsim import __version__
from accelsim.cost import folds as systolic
from accelsim.engine import simulate
from accelsim.hardware import Arch
from accelsim.ir import Graph
from accelsim.mapping import lower
from accelsim.options import Options
from accelsim.report import build_report

from ..conftest import linear_op, relu_op


def _gpu(cores=4, launch="0s", l2=True, bandwidth="inf"):
    return Arch.model_validate({
        "name": "gpu", "clock": "1GHz", "dtype": "fp16", "cores": cores,
        "core": {"systolic": {"rows": 16, "cols": 16, "dataflow": "os"}, "vector": {"lanes": 64},
                 "sram": {"unified": "192KiB"}, "tile": {"m": 64, "n": 64}},
        "hbm": {"capacity": "16GiB", "bandwidth": bandwidth},
        "l2": {"capacity": "4MiB", "bandwidth": "inf"} if l2 else None,
        "kernel_launch": launch,
    })


def _run(graph, arch):
    tg = lower(graph, arch, Options())
    trace = simulate(tg)
    return tg, build_report(graph, arch, tg, trace, name="t", workload={}, version=__version__)


def _gemm(m, n, k):
    return Graph("g", [linear_op("fc", "x", m, k, n, "fp16")], {"x": (m, k)})


def test_output_tiles_run_in_waves():
    # 320×256 output in 64×64 tiles: 5·4 = 20 tiles on 4 cores → 5 waves. One tile (64×64, K = 128) on a
    # 16×16 os array: 4·4 folds of τ = 16 + 16 + 128 − 2 = 158 → 2,528 cycles; with unbounded memory the GEMM
    # takes 5 waves × 2,528 = 12,640 cycles
    _, rep = _run(_gemm(320, 256, 128), _gpu())
    tile = systolic.folds(64, 64, 128, 16, 16, "os").cycles + 1
    assert tile == 16 * 158
    assert rep["total_cycles"] == 5 * tile
    # one more output row needs a sixth row of tiles: 6·4 = 24 tiles → 6 waves (tile quantisation)
    _, more = _run(_gemm(321, 256, 128), _gpu())
    assert more["total_cycles"] == 6 * tile


def test_the_sms_of_a_gpu_are_one_lock_step_unit_per_kind():
    # 21 tiles (7·3 of 64×64 in a 448×192 output) on 4 SMs: 6 tiles on one SM, 5 on the others. The SMs are one
    # unit of each kind with a count of 4, the GEMM takes ⌈21/4⌉ = 6 tile times (the busiest SM), streamed as 8
    # K-slice groups (6 · 2,528 cycles ≥ 8 · 1,000): 8 compute tasks, not one stream per SM
    tg, rep = _run(_gemm(448, 192, 128), _gpu())
    arrays = [u for u in tg.units if u.group == "systolic"]
    assert [(u.name, u.count) for u in arrays] == [("core*.systolic0", 4)]
    tile = systolic.folds(64, 64, 128, 16, 16, "os").cycles + 1
    (fc,) = rep["ops"]
    assert fc["compute_cycles"] == 6 * tile and rep["total_cycles"] == 6 * tile
    assert fc["unit"] == "core*.systolic0 (4)" and fc["tiles"] == 8
    assert sum(1 for t in tg.tasks if t.kind.name == "COMPUTE") == 8
    # a round moves every SM's bytes: A and B panels of all 21 tiles from L2, (64 + 64)·128·2 B each, plus C
    assert fc["bytes"]["l2"] == 21 * (64 + 64) * 128 * 2 + 448 * 192 * 2
    # busy: each SM is busy while the unit is (lock step), so the arrays' utilisation is 100 % of this run
    assert rep["utilization"]["core*.systolic0"] == pytest.approx(1.0)


def test_launch_overhead_is_reported_and_exposed_only_when_it_is_on_the_critical_path():
    # one op: the 10 µs launch (10,000 cycles at 1 GHz) precedes it, all of it exposed
    _, one = _run(_gemm(320, 256, 128), _gpu(launch="10us"))
    assert one["launch_overhead_s"] == pytest.approx(10e-6)
    assert one["total_cycles"] == 10_000 + 5 * 2528
    # two long ops: the second op's launch runs while the first computes, so only the first launch is exposed
    g = Graph("g2", [linear_op("fc1", "x", 2048, 1024, 1024, "fp16"), relu_op("r", "fc1", (2048, 1024), "fp16")],
              {"x": (2048, 1024)})
    _, two = _run(g, _gpu(launch="10us"))
    assert two["launch_overhead_s"] == pytest.approx(10e-6)


def test_shared_l2_keeps_hbm_traffic_near_compulsory_for_a_gemm_that_fits():
    # 512×512×512 fp16: A, B, C are 0.5 MiB each and fit the 4 MiB L2 budget (4 MiB / 3 / 2 = 0.67 MiB each),
    # so HBM moves each once: 3 × 524,288 B; the cores read their tiles' panels from L2:
    # 64 tiles × (64 + 64) × 512 × 2 B = 8 MiB, plus the 0.5 MiB output written
    _, rep = _run(_gemm(512, 512, 512), _gpu(bandwidth="1TB/s"))
    assert rep["bytes"]["hbm"] == 3 * 512 * 512 * 2
    assert rep["bytes"]["l2"] == 64 * 128 * 512 * 2 + 512 * 512 * 2
    assert math.isclose(rep["arch"]["peak_macs_per_cycle"], 4 * 256)


def test_split_k_spreads_a_single_tile_over_the_cores():
    # a 64×64 output (one tile) with K = 1024 on 4 cores: split-K cuts K into 4 slices of 256 (≥ SPLIT_K_MIN),
    # one per core: 4·4 folds of τ = 16 + 16 + 256 − 2 = 286 → 4,576 cycles each, all four at once
    _, rep = _run(_gemm(64, 64, 1024), _gpu())
    assert rep["ops"][0]["mapping"]["split_k"] == 4
    assert rep["total_cycles"] == 16 * 286
    # without split-K one core would take 16 folds of 16 + 16 + 1024 − 2: 16,864 cycles
    assert rep["total_cycles"] < 16 * (16 + 16 + 1024 - 2)


def test_small_transfers_stream_at_their_size_efficiency():
    # Calculon's A100 curve as a100 has it: ≥ 100 MB 0.9, ≥ 10 MB 0.75, ≥ 1 MB 0.6, else 0.3
    from accelsim.config import load_arch

    hbm = load_arch("a100").hbm
    assert hbm.efficiency_at(200_000_000) == 0.9
    assert hbm.efficiency_at(50_000_000) == 0.75
    assert hbm.efficiency_at(5_000_000) == 0.6
    assert hbm.efficiency_at(1000) == 0.3
