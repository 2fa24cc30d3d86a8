"""A causal fused attention on a systolic array (TPU, NPU) computes only the blocks at or below the diagonal, as
a causal flash kernel does (:func:`accelsim.cost.attention.systolic_causal`); every number is worked by hand from
SCALE-Sim's fold formulas (docs/architecture.md, "Cost models")."""

from __future__ import annotations

import accelsim
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
