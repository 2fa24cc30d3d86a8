"""A batch of GEMMs (``Gemm.count``: a batched matmul, attention heads) on a systolic array (accelsim/cost/folds.py
``run_cycles``). Without ``preload_overlap`` each GEMM is a SCALE-Sim layer of its own: count·(F·τ − 1). With it the
next GEMM's first stationary tile preloads while the last fold of this one streams, so the batch is count·F folds of
one pipeline: the first preload and the last fold's stream, skew and drain once (ws/is
R + (count·F − 1)·max(T, R) + T + R + C − 3, os (count·F − 1)·max(T, R) + T + R + C − 3: folds start max(T, R)
apart, and the last one waits for no later preload; probe p169 #1). Each number is worked by hand in the comments."""

from __future__ import annotations

from accelsim.api import simulate
from accelsim.config import load_arch, load_workload
from accelsim.cost import folds, systolic

from .attention_ops import fused_attention_op


def test_a_batch_pipelines_its_folds_with_preload_overlap():
    # DLRM's interaction bmm on one TPU v4 MXU (128×128, ws): 256 GEMMs of M = N = 27, K = 128.
    # ws: S_r = K = 128 → F_r = 1, S_c = N = 27 → F_c = 1, T = M = 27; a fold waits for the next preload,
    # max(T, R) = 128, but the last fold has no next preload: it streams T = 27 and skews and drains R + C − 2.
    # One GEMM: 128 + 0·128 + 27 + 128 + 128 − 2 − 1 = 408, SCALE-Sim's τ − 1 (one fold has nothing to overlap;
    # it was 509 = 128 + 1·128 + 253 before probe p169 #1, more than without the overlap); the batch, 256 folds:
    # 128 + 255·128 + 27 + 253 = 33,048 (not 256 · 408 = 104,448: the first preload and the last drain paid by
    # every sample)
    assert folds.cycles(27, 27, 128, 128, 128, "ws", count=1, overlap=True) == 408
    assert folds.cycles(27, 27, 128, 128, 128, "ws", count=1, overlap=False) == 408
    assert folds.cycles(27, 27, 128, 128, 128, "ws", count=256, overlap=True) == 33_048
    # is: (S_r, S_c, T) = (K, M, N). M = 200, N = 64, K = 100 on 128×128: F_r = ⌈100/128⌉ = 1, F_c = ⌈200/128⌉
    # = 2, T = 64 < R: 128 per fold, the last 64. Three GEMMs, 6 folds: 128 + 5·128 + 64 + 253 = 1,085 (one:
    # 128 + 1·128 + 64 + 253 = 573)
    assert folds.cycles(200, 64, 100, 128, 128, "is", count=3, overlap=True) == 1_085
    assert folds.cycles(200, 64, 100, 128, 128, "is", count=1, overlap=True) == 573
    # os preloads nothing (its accumulators double-buffer): 256³ on 128×128 is F = 4 folds of T = K = 256.
    # T ≥ R, so the last fold's T is its max(T, R) too. Four GEMMs, 16 folds: 15·256 + 256 + 128 + 128 − 2 − 1
    # = 4,349 (one: 3·256 + 256 + 253 = 1,277)
    assert folds.cycles(256, 256, 256, 128, 128, "os", count=4, overlap=True) == 4_349


def test_without_overlap_every_gemm_of_a_batch_pays_its_fill():
    # SCALE-Sim: each GEMM a layer. ws 27×27×128 on 128×128: τ = 2·128 + 128 + 27 − 2 = 409 → 408 a GEMM;
    # 256 of them: 256 · 408 = 104,448
    assert folds.cycles(27, 27, 128, 128, 128, "ws", count=256) == 256 * 408 == 104_448
    # os 256³: F = 4, τ = 128 + 128 + 256 − 2 = 510 → 4·510 − 1 = 2,039 a GEMM; 4 of them 8,156
    assert folds.cycles(256, 256, 256, 128, 128, "os", count=4) == 4 * 2_039 == 8_156


def test_fused_attention_pipelines_each_of_its_gemms_over_the_heads():
    # a decode step (q_len 1) of 32 heads, head_dim 128, 1,024 keys, bf16, fused, on tpu-v4's 128×128 ws MXU.
    # QKᵀ: M = 1, N = 1,024, K = 128 per head: F_r = 1, F_c = 8, T = 1 → 128 per fold.
    # PV: M = 1, N = 128, K = 1,024: F_r = 8, F_c = 1, T = 1 → 128 per fold.
    # Each is 32 heads · 8 folds of one pipeline, the last streaming T = 1: 128 + 255·128 + 1 + 253 = 33,022; the
    # two 66,044 (each head paying its fill and drain: 2 · 32 · (128 + 7·128 + 1 + 253) = 81,792).
    # The softmax on the 2,048 lanes (8 x 128 x 2 ALUs: probe p267 #1; 1,024 and 320 cycles before): 32·1,024 scores
    # · 10 lane-cycles / 2,048 = 160, hidden under the GEMMs.
    tpu = load_arch("tpu-v4")
    op = fused_attention_op({"batch": 1, "heads": 32, "kv_heads": 32, "q_len": 1, "kv_len": 1024, "head_dim": 128})
    priced = systolic.price(op, tpu.core.systolic, tpu)
    assert priced.details["gemm"] == [[1, 1024, 128, 32], [1, 128, 1024, 32]]
    assert priced.details["softmax_cycles"] == 160
    assert priced.cycles == 2 * 33_022


def test_a_batch_split_over_units_pipelines_each_units_share():
    # the unfused scores bmm of 8 heads, q_len = kv_len = head_dim = 64, on multicore-4 (four cores, one 64×64
    # ws array each, preload overlap): Gemm(64, 64, 64, count 8), ws F = 1, T = 64 = R: 64 per fold.
    # On one array: 64 + 8·64 + 64 + 64 − 2 − 1 = 701. Cut along the count over the four cores, each runs 2:
    # 64 + 2·64 + 125 = 317 (its fill and drain once; per GEMM it was 2 · (64 + 64 + 125) = 506), the four 1,268.
    rep = simulate(load_workload({"model": "attention", "batch": 1, "heads": 8, "kv_heads": 8, "q_len": 64,
                                  "kv_len": 64, "head_dim": 64}), load_arch("multicore-4", [])).to_dict()
    scores = next(o for o in rep["ops"] if o["name"] == "scores")
    assert scores["mapping"]["gemm"] == [64, 64, 64, 8]
    assert (scores["mapping"]["split"], scores["mapping"]["units"]) == ("count", 4)
    assert scores["compute_cycles"] == 317
    assert scores["mapping"]["work_cycles"] == 4 * 317


def test_a_walk_ends_on_its_last_gemms_fold():
    # cost.systolic.walk_cycles: GEMMs of different T as one pipeline on a 128×128 ws array with preload overlap.
    # 100×128×128 then 20×128×128: one fold each (K = N = 128), folds start max(T, R) = 128 apart after the first
    # 128-cycle preload, and the last fold (the second GEMM's) streams its T = 20 and skews and drains
    # R + C − 2 = 254: 128 + 128 + 20 + 254 − 1 = 529 (the first GEMM's T = 100 there would give 609)
    from accelsim.ir import Gemm

    gemms = [Gemm(m=100, n=128, k=128, count=1), Gemm(m=20, n=128, k=128, count=1)]
    fs = [folds.folds(g.m, g.n, g.k, 128, 128, "ws", True) for g in gemms]
    assert systolic.walk_cycles(gemms, fs, True) == 128 + 128 + 20 + 254 - 1 == 529
    # in the other order the last fold streams 100: 128 + 128 + 100 + 253 = 609
    assert systolic.walk_cycles(gemms[::-1], fs[::-1], True) == 609
