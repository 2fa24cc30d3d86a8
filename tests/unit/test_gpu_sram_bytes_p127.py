"""A GPU GEMM's shared-memory bytes per CTA tile, and a note for a level used past its bandwidth (probe p127 #1).

On a core with ``core.tile`` a GEMM runs as thread-block output tiles; each tile's MMAs read its A and B panels from
shared memory once and its epilogue writes the output tile once (cost/gpu_tiles.py ``smem_bytes``). The array's
fold reuse (cost/systolic.py ``sram_operand_bytes``) had re-read the panels once per fold of the 64×32 "array":
51,673,825,280 B, 153.1 % of h100's shared-memory bandwidth, with no note."""

from __future__ import annotations

import pytest

from accelsim import api
from accelsim.api import simulate
from accelsim.config import experiment_from_parts, load_workload
from accelsim.hardware import Arch
from accelsim.report.summary import over_share_notes


def _gemm(arch: str, m: int, n: int, k: int, dtype: str = "bf16") -> dict:
    spec = experiment_from_parts("gemm", arch, overrides=[f"workload.m={m}", f"workload.n={n}", f"workload.k={k}",
                                                          f"workload.dtype={dtype}"])
    return api.run_experiment(spec).to_dict()


@pytest.mark.parametrize(("arch", "size", "tile", "tiles"), [
    # h100: the largest listed shape that gives all 132 SMs a tile is 128 × 256 (h100.yaml core.tile.shapes):
    # (8192 / 128) · (8192 / 256) = 64 · 32 = 2048 tiles
    ("h100", 8192, [128, 256], 64 * 32),
    # a100: 256 × 128 (a100.yaml core.tile.shapes' first) fills its 108 SMs at 2048³: (2048 / 256) · (2048 / 128)
    # = 8 · 16 = 128 tiles
    ("a100", 2048, [256, 128], 8 * 16),
])
def test_gpu_gemm_reads_each_tiles_panels_from_shared_memory_once(arch, size, tile, tiles):
    rep = _gemm(arch, size, size, size)
    mp = rep["ops"][0]["mapping"]
    assert mp["tile"] == tile and mp["output_tiles"] == tiles and mp["split_k"] == 1
    tm, tn = tile
    # (tm + tn) · K · 2 B (bf16) of A and B panels a tile, × tiles, plus the output written once, size² · 2 B:
    # h100: 384 · 8192 · 2 · 2048 + 8192² · 2 = 12,884,901,888 + 134,217,728 = 13,019,119,616 B
    # a100: 384 · 2048 · 2 · 128 + 2048² · 2 = 201,326,592 + 8,388,608 = 209,715,200 B
    want = (tm + tn) * size * 2 * tiles + size * size * 2
    assert mp["sram_operand_bytes"] == want == {"h100": 13_019_119_616, "a100": 209_715_200}[arch]
    # the scratchpad's bytes: those reads and writes plus the L2 -> SMEM fills (the L2's bytes: the same panels,
    # written, and the output drained)
    assert rep["bytes"]["sram"] == want + rep["bytes"]["l2"]
    assert rep["bytes"]["l2"] == want
    # no GEMM moves more shared-memory bytes than its SMs' banks carry in its time, and none is noted
    assert 0 < rep["bandwidth_share"]["sram"] <= 1
    assert not any(n.startswith("bandwidth_share.") for n in rep["notes"])


def test_split_k_tiles_write_their_fp32_partials_once():
    # h100 256 × 256 × 8192 bf16 splits K: 64 × 128 tiles, (256/64) · (256/128) = 8 output tiles × 16 slices =
    # 128 CTAs, each reading (64 + 128) · 512 · 2 B of panels and writing its 64 × 128 fp32 partial tile:
    # 192 · 512 · 2 · 128 + 16 · 256 · 256 · 4 = 25,165,824 + 4,194,304 = 29,360,128 B
    mp = _gemm("h100", 256, 256, 8192)["ops"][0]["mapping"]
    assert mp["tile"] == [64, 128] and mp["split_k"] == 16 and mp["k_slice"] == 512 and mp["output_tiles"] == 128
    assert mp["sram_operand_bytes"] == 192 * 512 * 2 * 128 + 16 * 256 * 256 * 4 == 29_360_128


def _hand(bytes_per_cycle: int) -> Arch:
    # 1 GHz, a 4×4 ws array, split 64 KiB buffers, unbounded HBM: its SRAM rate prices nothing (no GPU kernel)
    return Arch.model_validate({
        "name": "hand", "clock": "1GHz", "dtype": "int8", "cores": 1,
        "core": {"systolic": {"rows": 4, "cols": 4, "dataflow": "ws"}, "vector": {"lanes": 4},
                 "sram": {"ifmap": "64KiB", "filter": "64KiB", "ofmap": "64KiB", "double_buffered": True,
                          "bytes_per_cycle": bytes_per_cycle}},
        "hbm": {"capacity": "1GiB", "bandwidth": "inf", "latency": "0ns"},
    })


def test_a_level_used_past_its_bandwidth_is_noted():
    # 16³ int8 on the 4×4 ws array, folds 4 × 4: B stationary once, 256 B; A once per column fold, 256 · 4; the
    # output once per K fold, 3 int32 partial sums and the int8 output, 256 · 13, and the 3 partial sums read back
    # by folds 2-4, 256 · 12 (probe p229 #1; 5,376 B before): 7,680 B, plus the 768 B of fills (A, B in, C out:
    # 3 · 256 B). At 1 B a cycle that is more than the run's cycles carry; at 64 it is not.
    wl = load_workload({"model": "gemm", "m": 16, "n": 16, "k": 16})
    slow = simulate(wl, _hand(1)).to_dict()
    assert slow["bytes"]["sram"] == 256 + 256 * 4 + 256 * (13 + 12) + 3 * 256 == 8448
    share = slow["bytes"]["sram"] / (1 * slow["total_cycles"])  # bytes / (1 B/cycle · 1 GHz · seconds)
    assert slow["bandwidth_share"]["sram"] == pytest.approx(share) and share > 1
    noted = [n for n in slow["notes"] if n.startswith("bandwidth_share.sram ")]
    assert len(noted) == 1 and f"{share:.1%}" in noted[0] and "bytes_per_cycle" in noted[0]
    fast = simulate(wl, _hand(64)).to_dict()
    assert fast["bandwidth_share"]["sram"] <= 1
    assert not any(n.startswith("bandwidth_share.") for n in fast["notes"])


def test_the_note_names_every_level_past_its_share_and_only_those():
    arch = _hand(1)
    assert over_share_notes(arch, {"sram": 1.0, "hbm": 0.5}) == []  # exactly 100 %: not past it
    notes = over_share_notes(arch, {"sram": 1.531, "hbm": 1.2})
    assert [n.split(" ")[0] for n in notes] == ["bandwidth_share.sram", "bandwidth_share.hbm"]
    assert "153.1%" in notes[0] and "not every transfer" in notes[1]
