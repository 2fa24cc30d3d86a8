"""Probe p100: the fold model's schedule (SCALE-Sim's: every fold streams its whole temporal dimension T, os k,
ws m, is n, at once) and the tiler's bytes describe one schedule (#1), and os with ``preload_overlap`` waits on
each fold's R-cycle output drain (#2)."""

import accelsim
from accelsim.cost.folds import folds

# --- #2: os with preload_overlap, a fold takes max(T, R) ---

def test_os_overlap_fold_waits_on_the_output_drain():
    # 256×256×1 on a 32×32 os array: F = ⌈256/32⌉·⌈256/32⌉ = 64 folds of T = 1 MAC; each fold's 32×32 outputs
    # leave by the 32 column ports one row a cycle (R = 32 cycles), so the pipeline's steady fold is max(1, 32)
    # = 32 cycles: 64·32 + R + C − 3 = 2,048 + 61 = 2,109 (not 64·1 + 61 = 125)
    f = folds(256, 256, 1, 32, 32, "os", True)
    assert (f.rows, f.cols, f.fold_cycles) == (8, 8, 32)
    assert f.cycles == 64 * max(1, 32) + 32 + 32 - 3 == 2_109
    # T ≥ R: the drain hides under the next fold's T: 256×256×100, 64·100 + 61 = 6,461 (as before)
    assert folds(256, 256, 100, 32, 32, "os", True).cycles == 64 * 100 + 61 == 6_461
    # ws and is keep R + F·max(T, R) + R + C − 3: 32 + 2,048 + 61 = 2,141 (the probe's hand figure)
    assert folds(256, 256, 1, 32, 32, "ws", True).cycles == 32 + 64 * 32 + 61 == 2_141


def test_os_overlap_end_to_end_cycles():
    # the probe's command: accelsim run -w gemm -a scalesim-32x32 --set workload.m=256 ... n=256 k=1 int8
    # --set arch.core.systolic.preload_overlap=true: compute_cycles 2,109 (hand figure above), fold_cycles 32
    r = accelsim.simulate({"model": "gemm", "m": 256, "n": 256, "k": 1, "dtype": "int8"},
                          {"base": "scalesim-32x32", "core": {"systolic": {"preload_overlap": True}}},
                          plots=False).to_dict()
    o = r["ops"][0]
    assert o["compute_cycles"] == 2_109 and o["mapping"]["fold_cycles"] == 32
