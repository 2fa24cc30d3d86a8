"""Achieved bandwidth of modelled GPU vector kernels (accelsim/cost/vector.py): waves of resident blocks, one memory
round trip per iteration (Little's law), re-read passes from the L2. Every expected value is computed below from
the a100 preset's numbers: HBM 2039 GB/s x 0.9 sustained, 600 ns; L2 7219.2 GB/s, 200 ns; 108 SMs of 2048 threads
and 32 blocks."""

from __future__ import annotations

import dataclasses
import math

import pytest

from accelsim.api import simulate
from accelsim.builders.micro import RowsColsParams, add, rmsnorm
from accelsim.config import list_presets, load_arch
from accelsim.cost import vector
from accelsim.mapping import l2resident

A100 = load_arch("a100")
HBM_BW, HBM_LAT = 2039e9 * 0.9, 600e-9
L2_BW, L2_LAT = 7219.2e9, 200e-9


def _op(builder, rows, cols):
    return builder(RowsColsParams(rows=rows, cols=cols, dtype="fp16")).ops[0]


def test_rmsnorm_4096_rows_runs_in_waves():
    # Sarathi's rms_norm: one 1024-thread block per row (4096 columns: 4 iterations of one fp16 load per thread);
    # 2048 // 1024 = 2 blocks per SM, 216 per wave: 18 full waves and one of 208 blocks. A full wave has
    # 216 x 1024 x 2 B = 442,368 B in flight, the last 208 x 2048 = 425,984 B.
    def pass_s(lat, bw):
        return 18 * 4 * (lat + 442_368 / bw) + 4 * (lat + 425_984 / bw)
    seconds = pass_s(HBM_LAT, HBM_BW) + pass_s(L2_LAT, L2_BW)  # first read from HBM, the re-read pass from the L2
    hbm = 4096 * 4096 * 2 * 2 + 4096 * 2  # one read, one write, the weights
    frac = vector.achieved_fraction(_op(rmsnorm, 4096, 4096), A100, hbm, passes=2)
    assert frac == pytest.approx(hbm / HBM_BW / seconds, rel=1e-9)
    assert 0.4 < frac < 0.5  # 63.9 + 19.9 us against 36.6 us at the sustained rate


def test_one_row_is_latency_bound():
    # one row of 4096: one block, 4 round trips to HBM and 4 to the L2, each with only 2048 B in flight
    seconds = 4 * (HBM_LAT + 2048 / HBM_BW) + 4 * (L2_LAT + 2048 / L2_BW)
    hbm = 3 * 4096 * 2
    frac = vector.achieved_fraction(_op(rmsnorm, 1, 4096), A100, hbm, passes=2)
    assert frac == pytest.approx(hbm / HBM_BW / seconds, rel=1e-9)
    assert frac < 0.01


def test_large_add_is_bandwidth_bound():
    # torch's vectorised add: 128-thread blocks of 4 elements per thread per input: 4096 x 4096 / 512 = 32,768
    # blocks, 16 per SM (2048 // 128), 1728 a wave: 18 full waves (2048 B a block in flight: 128 x 4 x 2 inputs x
    # 2 B) and one of 1664 blocks: 18 x (600 ns + 1728 x 2048 / BW) + (600 ns + 1664 x 2048 / BW) = 48.0 us, less
    # than moving its 3 x 32 MiB at the sustained rate (54.9 us): full bandwidth
    seconds = 18 * (HBM_LAT + 1728 * 2048 / HBM_BW) + (HBM_LAT + 1664 * 2048 / HBM_BW)
    hbm = 3 * 4096 * 4096 * 2
    assert seconds < hbm / HBM_BW
    assert vector.achieved_fraction(_op(add, 4096, 4096), A100, hbm, passes=1) == 1.0


def test_unmodelled_ops_and_archs_keep_the_size_curve():
    # a function without a kernel description, or an arch without occupancy limits: no latency model (gelu here;
    # layernorm, the function this test named before, is described since probe p186 #1)
    op = _op(rmsnorm, 64, 256)
    assert vector.achieved_fraction(dataclasses.replace(op, attrs={**op.attrs, "fn": "gelu"}), A100, 1000,
                                    1) is None
    plain = A100.model_copy(update={"core": A100.core.model_copy(update={
        "vector": A100.core.vector.model_copy(update={"resident_threads": None})})})
    assert vector.achieved_fraction(op, plain, 1000, 1) is None


@pytest.mark.parametrize("latency", [None, 0])
def test_unbounded_main_memory_takes_no_bandwidth_time(latency):
    # `hbm.bandwidth: inf`: main_bytes / inf = 0 s at the sustained rate, and a fraction of an unbounded rate is
    # unbounded, so the kernel's fraction is 1 (it was 0 / the walk's latency-bound seconds = 0, which the engine
    # turned into inf x 0 = NaN; with latency 0 as well it was 0 / 0). l2resident's paced fraction follows it.
    arch = load_arch({"base": "a100", "hbm": {"bandwidth": "inf"} | ({} if latency is None else {"latency": 0})})
    for op, passes in ((_op(add, 64, 256), 1), (_op(rmsnorm, 64, 256), 2)):
        assert vector.achieved_fraction(op, arch, 64 * 256 * 2 * 3, passes) == 1.0
        assert l2resident.paced_fraction(op, arch, 1000, 500, 500, passes) == 1.0


GPU_PRESETS = [p for p in list_presets("arch") if load_arch(p).core.vector.resident_threads]


@pytest.mark.parametrize("preset", GPU_PRESETS)
@pytest.mark.parametrize("model", ["add", "rmsnorm"])
def test_unbounded_main_memory_runs_every_gpu_preset(preset, model):
    # each preset whose vector unit has resident_threads (the modelled GPU kernels) with an unbounded HBM, with and
    # without its latency: a finite time, no less than the op's work on all lanes of all cores of all chips at one
    # element per lane per cycle (fp16 add and rmsnorm cost at least 1 lane-cycle per element: cost.vector).
    arch = load_arch(preset)
    elems = 1024 * 4096
    bound = math.ceil(elems / (arch.core.vector.lanes * arch.cores * arch.chips))
    for hbm in ({"bandwidth": "inf"}, {"bandwidth": "inf", "latency": 0}):
        report = simulate({"model": model, "rows": 1024, "cols": 4096, "dtype": "fp16"},
                          {"base": preset, "hbm": hbm})
        assert math.isfinite(report.seconds)
        assert bound <= report.total_cycles < math.inf


def test_mi300x_runs_vllms_two_pass_rmsnorm_at_its_own_occupancy():
    # mi300x.yaml: vLLM's rms_norm (the same source hipified) reads a row twice, as on the NVIDIA presets; its CUs
    # hold 2048 work-items (rocminfo: 32 waves x 64). 4096 x 4096 fp16: one 1024-thread block per row, 2 per CU,
    # 304 x 2 = 608 a wave: 6 full waves (3648 rows) and one of 448; 4 iterations of 1024 x 2 B a block. HBM
    # 5324.8 GB/s x 0.9, 600 ns; the re-read pass from the L2 at 34406.4 GB/s, 200 ns.
    mi300x = load_arch("mi300x")
    op = _op(rmsnorm, 4096, 4096)
    assert vector.input_passes(op, mi300x.core.vector) == 2
    bw, l2_bw = 5324.8e9 * 0.9, 34406.4e9

    def pass_s(lat, bw):
        return 6 * 4 * (lat + 608 * 2048 / bw) + 4 * (lat + 448 * 2048 / bw)
    seconds = pass_s(600e-9, bw) + pass_s(200e-9, l2_bw)
    hbm = 4096 * 4096 * 2 * 2 + 4096 * 2
    frac = vector.achieved_fraction(op, mi300x, hbm, passes=2)
    assert frac == pytest.approx(hbm / bw / seconds, rel=1e-9)
    assert 0.45 < frac < 0.47  # 23.8 + 6.6 us against 14.0 us at the sustained rate


def test_b200_add_is_latency_bound_where_h100_is_not():
    # 4096 x 4096 fp16 add, 32,768 blocks of 2048 B in flight, 16 per SM. b200: 148 x 16 = 2368 a wave, 13 full
    # waves and one of 1984, each waiting its HBM latency 737 ns (h100's 600 x 860 / 700 cycles measured) before
    # draining at 8000 GB/s x 0.9: 13 x (737 + 673.6) + (737 + 564.3) = 19.64 us > 13.98 us at the sustained rate
    # (fraction 0.71). h100: 132 x 16 = 2112 a wave, 15 full and one of 1088: 15 x (600 + 1434.6) + (600 + 739.1)
    # = 31.86 us < 33.39 us: full bandwidth.
    b200, h100 = load_arch("b200"), load_arch("h100")
    assert b200.memory("hbm").latency == pytest.approx(737e-9)
    op, hbm = _op(add, 4096, 4096), 3 * 4096 * 4096 * 2
    bw = 8000e9 * 0.9
    seconds = 13 * (737e-9 + 2368 * 2048 / bw) + (737e-9 + 1984 * 2048 / bw)
    frac = vector.achieved_fraction(op, b200, hbm, passes=1)
    assert frac == pytest.approx(hbm / bw / seconds, rel=1e-9)
    assert 0.70 < frac < 0.72
    h_bw = 3350e9 * 0.9
    assert 15 * (600e-9 + 2112 * 2048 / h_bw) + (600e-9 + 1088 * 2048 / h_bw) < hbm / h_bw
    assert vector.achieved_fraction(op, h100, hbm, passes=1) == 1.0
