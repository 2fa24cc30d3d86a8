"""benchmarks/heldout_dryrun.py: the collector's grids replayed on the held-out presets, checked against the
hardware's physical bound."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import heldout_dryrun as dry  # noqa: E402

from accelsim.config import load_arch  # noqa: E402


def test_gemm_bound_by_hand():
    h100 = load_arch("h100")
    # compute: the H100 SXM datasheet's dense bf16 peak, 989.4 TFLOPS (132 SMs x 2048 FMA/clk x 2 x 1.83 GHz);
    # 2 x 8192^3 FLOPs / 989.4e12 = 1.1113 ms (the bytes, 3 x 128 MiB, are far below that at 3.35 TB/s)
    assert dry.gemm_bound(h100, "bf16", 8192, 8192, 8192) == pytest.approx(2 * 8192**3 / 989.4e12, rel=1e-3)
    # fp8 at twice the rate (datasheet: 1,979 TFLOPS dense)
    assert dry.gemm_bound(h100, "fp8", 8192, 8192, 8192) == pytest.approx(2 * 8192**3 / 1978.9e12, rel=1e-3)
    # memory: 1 x 8192 x 8192 bf16 reads the 8192 x 8192 weight (128 MiB) and a 16 KiB activation and writes
    # 16 KiB; what the 50 MiB L2 cannot hold, at the datasheet's 3.35 TB/s: (134,250,496 + 16,384 - 52,428,800) B
    # / 3.35e12 = 24.43 us (the FLOPs, 134 M, take 0.14 us)
    assert dry.gemm_bound(h100, "bf16", 1, 8192, 8192) == pytest.approx(
        ((1 + 8192) * 8192 * 2 + 2 * 8192 - 50 * 2**20) / 3.35e12, rel=1e-6)


def test_attention_bound_by_hand():
    h100 = load_arch("h100")
    # a causal prefill of 4096 tokens, 32 heads of 128: q(q+1)/2 = 8,390,656 query-key pairs per head, 4 x 128
    # FLOPs each (scores and values, 2 per MAC): 4 x 32 x 128 x 8,390,656 = 137.5 GFLOP at 989.4 TFLOPS = 139.0 us
    # (the preset: 132 x 2048 x 2 x 1.83 GHz = 989.42)
    c = {"b": 1, "h": 32, "kvh": 32, "d": 128, "q": 4096, "kv": 4096, "elem": 2}
    assert dry.attention_bound(h100, c) == pytest.approx(4 * 32 * 128 * 4096 * 4097 / 2 / 989.4e12, rel=1e-3)
    # a decode step over 131071 cached tokens, 8 KV heads: K and V, 2 x 8 x 131071 x 128 x 2 B = 536.9 MB, the
    # query and output 32 x 128 x (2 + 2) B; beyond the 50 MiB L2 at 3.35 TB/s
    d = {"b": 1, "h": 32, "kvh": 8, "d": 128, "q": 1, "kv": 131071, "elem": 2}
    nbytes = 2 * 8 * 131071 * 128 * 2 + 32 * 128 * 4
    assert dry.attention_bound(h100, d) == pytest.approx((nbytes - 50 * 2**20) / 3.35e12, rel=1e-6)


def test_check_flags_a_row_below_its_bound_and_a_shrinking_all_reduce():
    cases = {"8192x8192x8192 bf16": {"kind": "gemm bf16", "type": "bf16", "m": 8192, "n": 8192, "k": 8192},
             "all_reduce 8 GPUs 512 B": {"kind": "all_reduce", "gpus": 8, "bytes": 512},
             "all_reduce 8 GPUs 1024 B": {"kind": "all_reduce", "gpus": 8, "bytes": 1024}}
    # 1.0 ms for a GEMM whose FLOPs alone take 1.11 ms at peak; 1024 B all-reduced faster than 512 B
    res = dry.check("h100", cases, {"8192x8192x8192 bf16": 1.0e-3, "all_reduce 8 GPUs 512 B": 20e-6,
                                    "all_reduce 8 GPUs 1024 B": 19e-6})
    assert [k for _, k, *_ in res["kinds"]["gemm bf16"]["below"]] == ["8192x8192x8192 bf16"]
    assert res["shrinking"] == [(8, 1024, 20e-6, 19e-6)]
    ok = dry.check("h100", cases, {"8192x8192x8192 bf16": 1.2e-3, "all_reduce 8 GPUs 512 B": 19e-6,
                                   "all_reduce 8 GPUs 1024 B": 20e-6})
    assert not ok["kinds"]["gemm bf16"]["below"] and not ok["shrinking"]


def test_the_collector_types_per_compute_capability():
    # collect_gemm.py get_gemm_test_cases: bf16; fp8 above 8.6; fp8_block from 9.0; nvfp4 from 10.0
    assert dry.gemm_types(80) == ["bf16"]
    assert dry.gemm_types(89) == ["bf16", "fp8"]
    assert dry.gemm_types(90) == ["bf16", "fp8", "fp8_block"]
    assert dry.gemm_types(100) == ["bf16", "fp8", "fp8_block", "nvfp4"]
    # the collector's decode grid on 10.0 drops groups of more than 16 query heads per KV head
    assert all(h // kvh <= 16 for _, h, kvh, _, _ in dry.generation_cases(100, "collector"))
    assert any(h // kvh > 16 for _, h, kvh, _, _ in dry.generation_cases(90, "collector"))


def test_every_row_of_a_thinned_grid_replays_within_its_bound():
    # b200 runs every type (bf16, fp8, fp8_block, nvfp4, fp8 KV) and its NCCL node: one row in 9 of each file,
    # through validate.py's own planners
    cases, sims, missing = dry.replay(["b200"], "shared", workers=1, stride=9)
    assert not missing["b200"]
    assert len(sims["b200"]) >= 300
    assert all(k in cases["b200"] for k in sims["b200"])  # the planners' keys are the cases' (the check reads them)
    res = dry.check("b200", cases["b200"], sims["b200"])
    assert {"gemm nvfp4", "gemm fp8_block", "decode", "prefill"} <= set(res["kinds"])
    assert not [b for k in res["kinds"].values() for b in k["below"]]
    assert not res["shrinking"]
