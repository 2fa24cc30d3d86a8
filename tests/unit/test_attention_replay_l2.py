"""The aiconfigurator attention replay's warm inputs (benchmarks/validation/aiconfigurator.py) and the split-KV
CTA's partial-output writes (accelsim/cost/attention.py), checked against hand calculations.

The collector (ai-dynamo/aiconfigurator collector/vllm/collect_attn.py, utils.py create_and_prepopulate_kv_cache)
keeps its K and V cache in blocks of 64 tokens, laid out (2, blocks, 64, kv_heads, head_dim), and replays the call
back to back on the same tensors: a tensor is still in the L2 at its next read only when everything one replay
touches fits the L2's share (mapping/l2resident.py CACHE_SHARE 0.5 of a100's 40 MiB = 20 MiB = 20971520 B).
"""

from __future__ import annotations

import sys
from pathlib import Path

from accelsim.config import load_arch
from accelsim.cost import attention as fa

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from validation import aiconfigurator as aic  # noqa: E402
from validation.model import FilePlan  # noqa: E402

A100 = load_arch("a100")
HBM_BPC = 2039e9 * 0.9 / 1.41e9  # a100 HBM sustained bytes per cycle (2039 GB/s x 0.9 at 1.41 GHz)


def test_replay_footprint_counts_whole_kv_blocks_and_the_small_tensors():
    # b1 h32/8 d128, a decode step over 100 cached tokens: 2 blocks of 64 tokens (128 token slots) x 8 KV heads x
    # 128 x 2 B = 262144 B each for K and V -> 524288; q and output 32 x 128 x 2 B each = 16384; the new token's
    # K and V 8 x 128 x 2 B each = 4096: 544768 B
    assert aic.replay_footprint(1, 32, 8, 128, 1, 100) == 544768


def test_l2_share_is_half_the_a100_l2():
    assert aic.l2_share("a100") == 20971520


def _plan(tmp_path: Path, rows: list[str]) -> FilePlan:
    path = tmp_path / "generation_attention.csv"
    path.write_text("batch_size,num_heads,num_key_value_heads,head_dim,q_len,kv_len,latency_us\n" + "\n".join(rows))
    plan = FilePlan(label="aiconfigurator/a100_sxm/generation_attention.csv", path=path, kind="aic_attention",
                    hardware="a100_sxm", preset="a100", compared="")
    return aic.plan_aic_attention(plan, "a100")


def test_warm_inputs_only_when_one_replay_fits_the_l2_share(tmp_path):
    # b8 h32/1 kv4096: K and V 2 x 8 x 4096 x 1 x 256 B = 16777216 B plus 8 x 32 x 256 x 2 + 8 x 256 x 2 = 135168:
    # 16912384 <= 20971520, warm. b64 h64/1 kv1024: K and V 2 x 64 x 1024 x 256 = 33554432 B > 20971520: every
    # tensor is evicted before the next replay reads it, cold (both K and V alone would fit; together they do not).
    plan = _plan(tmp_path, ["8,32,1,128,1,4096,30.5", "64,64,1,128,1,1024,54.9"])
    arch_refs = [r.terms[0][0][0] for r in plan.rows]
    assert arch_refs[0].endswith("|warm=all")
    assert "warm" not in arch_refs[1]


def test_an_fp8_kv_cache_row_replays_with_its_cache_dtype_and_half_the_cache_bytes(tmp_path):
    # the collector's fp8-KV rows (compute capability > 8.6) carry kv_cache_dtype: replayed, not skipped, with the
    # micro's kv_cache_dtype fp8, the replay's cache bytes at 1 B against a100's L2 share of 20971520 B:
    # b8 h32/8 kv2048: K and V 2 x 8 x 2048 x 8 x 128 x 1 B = 33554432 B (cold); b4: 16777216 B plus its query and
    # output 2 x 4 x 32 x 128 x 2 B and new K and V 2 x 4 x 8 x 128 x 2 B (81920 B together) fits (warm); the same
    # b4 row with a bf16 cache (33554432 B) does not
    path = tmp_path / "generation_attention.csv"
    path.write_text("batch_size,num_heads,num_key_value_heads,head_dim,q_len,kv_len,kv_cache_dtype,latency_us\n"
                    "4,32,8,128,1,2048,fp8,20\n8,32,8,128,1,2048,fp8,30\n4,32,8,128,1,2048,bfloat16,25\n"
                    "4,32,8,128,1,2048,int4,25\n")
    plan = aic.plan_aic_attention(FilePlan(label="aiconfigurator/h100_sxm/generation_attention.csv", path=path,
                                           kind="aic_attention", hardware="h100_sxm", preset="a100", compared=""),
                                  "a100")
    assert [r.key for r in plan.rows] == ["b4 h32/8 d128 q1 kv2048 kv fp8", "b8 h32/8 d128 q1 kv2048 kv fp8",
                                          "b4 h32/8 d128 q1 kv2048"]
    jobs = [r.terms[0][0] for r in plan.rows]
    assert [dict(j[2]).get("kv_cache_dtype") for j in jobs] == ["fp8", "fp8", None]
    assert [j[0].endswith("|warm=all") for j in jobs] == [True, False, False]
    assert len(plan.skipped) == 1 and "int4" in plan.skipped[0][0]
    assert aic.replay_footprint(4, 32, 8, 128, 1, 2048, 1) == 16777216 + 81920


def test_split_cta_writes_its_fp32_partial_beside_its_kv_stream():
    # a split CTA of 3 blocks of 65536 B of K and V and a 32-row fp32 partial (32 x 128 x 4 = 16384 B), 216 CTAs
    # running, 2 per SM: its bytes at 1/216 of the bandwidth shared by the 2 resident CTAs:
    # (3 x 65536 + 16384) x 216 / 2 / 1301.489 = 212992 x 108 / 1301.489 = 17674.5 -> 17675 cycles (without the
    # partial 196608 x 108 / 1301.489 = 16314.9 -> 16315)
    cost = fa.CtaCost(10, 10, 10, 65536, HBM_BPC, 2, A100, 16384)
    assert cost(3, 216) == 17675
    assert cost._replace(out_bytes=0)(3, 216) == 16315
