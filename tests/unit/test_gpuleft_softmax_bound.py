"""A fused attention's softmax runs on its core's ONE vector unit, whatever the number of arrays the op is split
over: cost/systolic.price bounds the one-array work by the softmax's cycles, and the split over a core's arrays
(mapping/traffic._unit_pricing) keeps that bound per core instead of dividing it by the arrays (before: a prefill
attention split over tpu-v6e's 4 MXUs took 21,882 cycles against its 81,920 of softmax)."""

from __future__ import annotations

import accelsim
from accelsim.config import load_arch

# 8 heads of 1,024 queries x 1,024 keys at batch 1, head_dim 128, not causal: 8 x 1024 x 1024 = 8,388,608 scores
PREFILL = {"model": "attention", "heads": 8, "kv_heads": 8, "q_len": 1024, "kv_len": 1024, "head_dim": 128,
           "attention": "fused"}
SCORES = 8 * 1024 * 1024
SOFTMAX_LANE_CYCLES = 10  # hardware.DEFAULT_VECTOR_COSTS: max, subtract, exp, sum, divide


def _attention(arch: str) -> dict:
    rep = accelsim.simulate(PREFILL, arch, batch=1).to_dict()
    return next(o for o in rep["ops"] if o["kind"] == "attention")


def test_one_core_of_four_mxus_takes_its_whole_softmax():
    v6e = load_arch("tpu-v6e")
    # 4,096 lanes: 8 x 128 x 4 ALUs (probe p267 #1; 1,024 before, 81,920 cycles of softmax)
    assert (v6e.cores, v6e.core.systolic.count, v6e.core.vector.lanes) == (1, 4, 4096)
    soft = SCORES * SOFTMAX_LANE_CYCLES // 4096
    assert soft == 20_480
    op = _attention("tpu-v6e")
    assert op["mapping"]["softmax_cycles"] == soft
    # the MXUs' work is far less (per array of the 4: 2 heads x 2 GEMMs x 4 x 1 folds of 1,024 rows = 16,384 plus
    # fills), so the op takes its core's one VPU's 20,480 cycles however many MXUs it runs on, not a quarter
    assert op["compute_cycles"] >= soft


def test_two_cores_each_take_their_share_of_the_softmax():
    v4 = load_arch("tpu-v4")
    # 2,048 lanes a core: 8 x 128 x 2 ALUs (probe p267 #1; 1,024 before, 40,960 cycles)
    assert (v4.cores, v4.core.systolic.count, v4.core.vector.lanes) == (2, 4, 2048)
    op = _attention("tpu-v4")
    # split over both cores' 8 MXUs by heads (one each): a core's 4 heads are half of the scores, which its own
    # VPU runs: 8,388,608 / 2 x 10 / 2,048 = 20,480 cycles; an MXU's own head is 2 GEMMs x 8 folds (1 of K 128
    # on 128 rows, 8 of 1,024 keys on 128 columns) of 1,024 streamed rows = 16,384 cycles plus fills, less
    assert op["mapping"]["split"] == "count" and op["mapping"]["units"] == 8
    assert op["compute_cycles"] == SCORES // 2 * SOFTMAX_LANE_CYCLES // 2048 == 20_480
