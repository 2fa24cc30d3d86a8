"""A causal fused attention on a systolic array (TPU, NPU) computes only the blocks at or below the diagonal, as
a causal flash kernel does (:func:`accelsim.cost.attention.systolic_causal`); every number is worked by hand from
SCALE-Sim's fold formulas (docs/architecture.md, "Cost models")."""

from __future__ import annotations

import accelsim
from accelsim.builders import build_workload
from accelsim.config import load_arch
from accelsim.cost import systolic
from accelsim.hardware import Arch

from .attention_ops import fused_attention_op


def _arch(dataflow: str, overlap: bool, lanes: int = 1024) -> Arch:
    return Arch.model_validate({
        "name": "t", "clock": "1GHz", "dtype": "bf16", "cores": 1,
        "core": {"systolic": {"rows": 128, "cols": 128, "dataflow": dataflow, "preload_overlap": overlap},
                 "vector": {"lanes": lanes}, "sram": {"unified": "16MiB", "double_buffered": True}},
        "hbm": {"capacity": "8GiB", "bandwidth": "100GB/s", "latency": "0ns"}})


ONE_HEAD = {"heads": 1, "kv_heads": 1, "batch": 1}


def test_ws_array_walks_kv_blocks_streaming_the_queries_that_see_them():
    arch = _arch("ws", overlap=True)
    op = fused_attention_op(ONE_HEAD, q_len=512, kv_len=512, head_dim=128, causal=True)
    p = systolic.price(op, arch.core.systolic, arch)
    # K/V block j (128 keys) is seen by queries 128j..511: 512, 384, 256, 128 rows streamed through one fold each
    # (τ = max(T, R) = the rows); each of QKᵀ and PV is one pipeline: 1280 + R + R + C − 3 = 1280 + 381 = 1661
    assert p.cycles == 2 * (512 + 384 + 256 + 128 + 128 + 128 + 128 - 3) == 3322
    # the full square: per GEMM 4 folds of T = 512: 128 + 4·512 + 253 = 2429 each
    full = systolic.price(fused_attention_op(ONE_HEAD, q_len=512, kv_len=512, head_dim=128), arch.core.systolic, arch)
    assert full.cycles == 2 * (128 + 4 * 512 + 253) == 4858
    # 1280 rows x 128 keys of 512 x 512 scores: 10 of 16 blocks
    assert p.details["mac_fraction"] == 1280 * 128 / (512 * 512) == 0.625
    assert p.details["causal_walk"] == {"order": "kv_outer", "block": [128, 128], "gemms": 8, "folds": [4, 4]}
    # the softmax over the visited scores only: 1280·128 scores x 10 lane-cycles / 1024 lanes
    assert p.details["softmax_cycles"] == 1280 * 128 * 10 // 1024 == 1600
    assert (full.details["causal"], full.details["mac_fraction"]) == (False, 1.0) and "causal_walk" not in full.details


def test_os_array_walks_query_blocks_over_the_keys_up_to_their_diagonal():
    arch = _arch("os", overlap=False)
    op = fused_attention_op(ONE_HEAD, q_len=256, kv_len=256, head_dim=64, causal=True)
    p = systolic.price(op, arch.core.systolic, arch)
    # query block 0 sees 128 keys, block 1 256. os folds (M, N spatial, K in time), τ = R + C + T − 2, F·τ − 1:
    # QKᵀ 128x128x64: 318 − 1 = 317; 128x256x64: 2 folds, 636 − 1 = 635;
    # PV 128x64x128: 382 − 1 = 381; 128x64x256: 510 − 1 = 509
    assert p.cycles == 317 + 635 + 381 + 509 == 1842
    assert p.details["mac_fraction"] == (128 * 128 + 128 * 256) / (256 * 256) == 0.75
    assert p.details["causal_walk"]["order"] == "q_outer"


def test_a_decode_step_has_nothing_to_skip():
    arch = _arch("ws", overlap=True)
    op = fused_attention_op(ONE_HEAD, q_len=1, kv_len=512, head_dim=128, causal=True)
    p = systolic.price(op, arch.core.systolic, arch)
    assert (p.details["causal"], p.details["mac_fraction"]) == (False, 1.0) and "causal_walk" not in p.details


def test_tpu_run_reports_the_macs_its_causal_kernel_computed():
    shape = {"model": "attention", "attention": "fused", "dtype": "bf16", "heads": 2, "kv_heads": 2,
             "q_len": 1024, "kv_len": 1024, "head_dim": 128}
    causal = accelsim.simulate({**shape, "causal": True}, "tpu-v4").to_dict()
    full = accelsim.simulate({**shape, "causal": False}, "tpu-v4").to_dict()
    macs = 2 * 2 * 1024 * 1024 * 128  # QKᵀ and PV of 2 heads: 536,870,912
    assert causal["macs"] == full["macs"] == macs
    # 8 query blocks of 128: block t sees t + 1 K/V blocks, 36 of 64
    assert causal["computed_macs"] == macs * 36 // 64 == 301_989_888
    assert full["computed_macs"] == macs
    assert causal["seconds"] < full["seconds"]
    assert any(n.startswith("causal attention:") for n in causal["notes"])


def _gpt2_attention(fn: str, seq_len: int = 512):
    """gpt2's (12 heads of 64) fused causal attention op ``fn`` of a training step at ``seq_len`` tokens."""
    graph = build_workload("gpt2", {"seq_len": seq_len, "attention": "fused", "mode": "training"})
    return next(op for op in graph.ops if op.fn == fn)


def test_a_causal_backward_skips_the_blocks_its_forward_skips():
    # FlashAttention-2's backward (K/V blocks outer, each walking the query blocks from its diagonal down) visits
    # the blocks its forward does. gpt2 at 512 tokens on a 128 x 128 ws array: K/V block j is seen by 512, 384, 256,
    # 128 queries, 10 of the 16 128 x 128 blocks, so mac_fraction = 1280·128 / 512² = 0.625, forward and backward
    arch = _arch("ws", overlap=True)
    bwd = _gpt2_attention("attention_grad")
    # S = QKᵀ, dQ, dK: QKᵀ-sized, 3 x 12 heads = 36; dV, dP: PV-sized, 2 x 12 = 24 (builders/training.py)
    assert (bwd.gemm.count, bwd.pv_gemm.count) == (36, 24)
    p = systolic.price(bwd, arch.core.systolic, arch)
    assert p.details["causal"] and p.details["mac_fraction"] == 1280 * 128 / 512**2 == 0.625
    assert systolic.price(_gpt2_attention("attention"), arch.core.systolic, arch).details["mac_fraction"] == 0.625
    # per block j one QKᵀ GEMM (rows_j x 128 keys x 64: one fold, T = rows_j ≥ R) at count 36 and one PV GEMM
    # (rows_j x 64 x 128 keys: one fold) at count 24, each set one pipeline: Σ count·rows_j + R + R + C − 3
    assert p.cycles == (36 * 1280 + 381) + (24 * 1280 + 381) == 77_562
    # the full square, as it was priced (mac_fraction 1.0): 4 column (QKᵀ) or row (PV) folds of T = 512 a GEMM
    assert p.cycles < (36 * 4 * 512 + 381) + (24 * 4 * 512 + 381) == 123_642
    # its softmax work (P recomputed and dS: 2 x the forward's 12·512² scores) over the visited 10/16 of them,
    # 10 lane-cycles each on 1024 lanes
    assert bwd.vector_elems == 2 * 12 * 512 * 512
    assert p.details["softmax_cycles"] == 2 * 12 * 1280 * 128 * 10 // 1024 == 38_400


def test_a_backward_split_over_units_keeps_a_heads_five_gemms_together():
    # split by count over 4 arrays, each unit takes 3 of the 12 heads: 9 QKᵀ-sized and 6 PV-sized GEMMs (not 9 and
    # 9, the 36 QKᵀ GEMMs' cut applied to the 24 PV ones). Its share of the op's 77,562 cycles is its sub-GEMMs'
    # full-square fold cycles over the op's: (9·2048 + 381) + (6·2048 + 381) = 31,482 of 123,642
    from accelsim.mapping.plan import Plan
    from accelsim.mapping.traffic import unit_cycles

    arch = _arch("ws", overlap=True)
    bwd = _gpt2_attention("attention_grad")
    details: dict = {}
    cyc = unit_cycles(Plan(bwd, 0, "systolic", 77_562), arch, 4, False, details)
    assert details["split"] == "count" and cyc == (-(-77_562 * 31_482 // 123_642),) * 4 == (19_750,) * 4


def test_tpu_training_step_computes_the_causal_backward_blocks_only():
    # a tpu-v4 (128 x 128 MXU) training step of gpt2 at 512 tokens: both attention rows compute 10/16 of their MACs
    rep = accelsim.simulate({"model": "gpt2", "seq_len": 512, "attention": "fused", "mode": "training"},
                            "tpu-v4").to_dict()
    rows = [o for o in rep["ops"] if o["name"].endswith(("attn.attention", "attn.attention.grad_input"))]
    assert len(rows) == 2 * 12 and all(o["mapping"]["mac_fraction"] == 0.625 for o in rows)
    # per layer the forward's QKᵀ + PV, 2·12·512²·64, and the backward's 2.5x that
    attention_macs = 12 * (2 + 5) * 12 * 512 * 512 * 64
    assert sum(o["macs"] for o in rows) == attention_macs
    assert rep["macs"] - rep["computed_macs"] == attention_macs * 6 // 16


def test_gpu_backward_keeps_its_flash_kernel():
    # on a GPU the backward is FlashAttention's backward kernel (attention.price_backward), never the array walk
    arch = load_arch("h100")
    bwd, fwd = _gpt2_attention("attention_grad"), _gpt2_attention("attention")
    b, f = (systolic.price(op, arch.core.systolic, arch) for op in (bwd, fwd))
    assert b.details["kernel"] == f"{f.details['kernel']}_backward" and "causal_walk" not in b.details
    assert b.details["causal"] and b.details["mac_fraction"] == f.details["mac_fraction"] < 1


def test_a_gpu_fallback_skips_the_causal_blocks_too():
    # An op the GPU's FlashAttention kernel cannot run is priced as this fused model (docs/architecture.md, "What a
    # FlashAttention kernel can run"), and so runs only the blocks at or below the diagonal as it does off a GPU
    # (probe p175 #1: mi300x causal 4096 tokens equalled non-causal, 607,927 cycles, mac_fraction 1.0). ROCm's
    # kernel it stands for on AMD skips them too (Composable Kernel fmha_fwd: mask.GetTileRangeAlongX).
    mi = load_arch("mi300x")  # a CU's 64 KiB LDS: flash2's 64 x 128 tile at head_dim 128 needs 80 KiB
    op = fused_attention_op(ONE_HEAD, q_len=256, kv_len=256, head_dim=128, causal=True)
    p = systolic.price(op, mi.core.systolic, mi)
    assert p.details["flash_unsupported"].startswith("flash2: its 64 x 128 tile")
    # the CU's 32 x 32 os array: 8 query blocks of 32 rows, block t sees t + 1 K/V blocks of 32 keys: 36 of 64
    assert p.details["causal"] and p.details["mac_fraction"] == 36 / 64 == 0.5625
    assert p.details["causal_walk"] == {"order": "q_outer", "block": [32, 32], "gemms": 16, "folds": [36, 32]}
    # os folds, τ = R + C + T − 2, F·τ − 1 a GEMM: QKᵀ 32 x 32(t+1) x 128: (t + 1) folds of 190;
    # PV 32 x 128 x 32(t+1): 4 folds of 62 + 32(t+1)
    qk = sum((t + 1) * 190 - 1 for t in range(8))
    pv = sum(4 * (62 + 32 * (t + 1)) - 1 for t in range(8))
    assert p.cycles == qk + pv == 6832 + 6584 == 13_416
    # the full square: QKᵀ 8 x 8 folds of 190, PV 8 x 4 folds of 62 + 256
    full = systolic.price(fused_attention_op(ONE_HEAD, q_len=256, kv_len=256, head_dim=128), mi.core.systolic, mi)
    assert full.cycles == 64 * 190 - 1 + 32 * 318 - 1 == 22_334 and full.details["mac_fraction"] == 1.0
    # the softmax over the 36 visited 32 x 32 blocks only, 10 lane-cycles a score on 256 lanes
    assert p.details["softmax_cycles"] == 36 * 32 * 32 * 10 // 256 == 1440
    # an NVIDIA fallback (fp32: no FlashAttention kernel takes it) alike: h100's 64 x 32 array, 4 query blocks of
    # 64 rows, block t sees 2(t + 1) K/V blocks of 32 keys: 20 of 32
    h100 = load_arch("h100")
    f32 = fused_attention_op(ONE_HEAD, q_len=256, kv_len=256, head_dim=128, causal=True, dtype="fp32")
    d = systolic.price(f32, h100.core.systolic, h100).details
    assert d["flash_unsupported"].startswith("flash3: dtype fp32")
    assert d["causal"] and d["mac_fraction"] == 20 / 32 and d["causal_walk"]["block"] == [64, 32]
