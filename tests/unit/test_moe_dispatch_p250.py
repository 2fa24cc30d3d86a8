"""Expert-parallel dispatch (probe p250): a prefill sends a token once per destination rank and, across nodes,
once per destination node (DeepEP's normal mode); a decode step once per routed expert (DeepEP's low-latency mode);
an fp8 / fp4 dispatch carries its packed rows and their scales."""

from __future__ import annotations

import math

import pytest

from accelsim.builders import build_workload
from accelsim.config import load_workload
from accelsim.draws import dispatch_ranks
from accelsim.ir import OpKind
from accelsim.units import dispatch_bytes


def _miss(pool: int, mine: int, k: int) -> float:
    """P(k distinct uniform picks of pool experts all miss mine of them), as a product (not math.comb)."""
    return math.prod((pool - mine - i) / (pool - i) for i in range(k))


def test_distinct_ranks_per_token_uniform_and_group_limited():
    # DeepSeek-V3 (256 experts, top-8) at EP 8, 32 experts a rank: 8 · (1 − Π_{i<8} (224 − i) / (256 − i)) = 5.29
    # (probe p250 #1), not 8
    uniform = 8 * (1 - _miss(256, 32, 8))
    assert uniform == pytest.approx(5.2947, abs=1e-4)
    assert dispatch_ranks(256, 8, 8) == pytest.approx(uniform, rel=1e-12)
    # its group-limited routing (n_group 8, topk_group 4): a group a rank, 4 ranks picked, then 8 of their 128
    # experts: 4 · (1 − Π_{i<8} (96 − i) / (128 − i)) = 3.63
    grouped = 4 * (1 - _miss(128, 32, 8))
    assert grouped == pytest.approx(3.6290, abs=1e-4)
    assert dispatch_ranks(256, 8, 8, 8, 4) == pytest.approx(grouped, rel=1e-12)
    # EP 16: a group over 2 ranks of 16 experts; a rank's group is picked with 4/8, then its 16 of the 128 experts
    # are hit unless all 8 picks miss them
    assert dispatch_ranks(256, 8, 16, 8, 4) == pytest.approx(16 * 4 / 8 * (1 - _miss(128, 16, 8)), rel=1e-12)
    # 2 nodes of 8 ranks, 4 groups each: the node holds j of the 4 picked groups (hypergeometric over 8 groups),
    # then is missed when the 8 picks miss its 32·j experts of the 128
    nodes = 2 * sum(math.comb(4, j) * math.comb(4, 4 - j) / math.comb(8, 4) * (1 - _miss(128, 32 * j, 8))
                    for j in range(1, 5))
    assert dispatch_ranks(256, 8, 2, 8, 4) == pytest.approx(nodes, rel=1e-12)
    # Mixtral (8 experts, top-2) on 8 ranks: one expert a rank, so a token always reaches 2 ranks
    assert dispatch_ranks(8, 2, 8) == pytest.approx(2.0)
    # Qwen1.5-MoE's 60 experts (top-4) over 8 ranks of 8, 8, 8, 8, 7, 7, 7, 7
    assert dispatch_ranks(60, 4, 8) == pytest.approx(4 * (1 - _miss(60, 8, 4)) + 4 * (1 - _miss(60, 7, 4)))


def test_dispatch_bytes_pack_fp4_and_carry_scales():
    # a 7168-wide row (DeepSeek-V3): fp8 1 B an element and an fp32 scale per 128 (DeepEP): 7168 + 56 · 4 = 7392;
    # NVFP4 half a byte an element and an fp8 scale per 16: 3584 + 448 = 4032 = 7168 · 0.5625; bf16 2 B, no scale
    assert dispatch_bytes(1, 7168, "fp8") == 7392
    assert dispatch_bytes(1, 7168, "fp4") == 4032 == 7168 * 0.5625
    assert dispatch_bytes(3, 7168, "bf16") == 3 * 7168 * 2


def test_an_fp4_decode_dispatch_moves_packed_rows():
    from accelsim.api import simulate

    # gpt-oss-120b (hidden 2880, top-4), dtype fp4, EP 8, a decode step of 4 sequences: 16 routed rows a chip. The
    # dispatch sends them as NVFP4, 1440 + 180 = 1620 B a row (before: 2880, a byte an element), 7/8 of the 16 on
    # the link: 22,680 B; the combine the experts' bf16 output, 16 · 2880 · 2 · 7/8 = 80,640 B
    w = load_workload("gpt_oss_120b", ["workload.dtype=fp4", "workload.expert_parallel=8", "workload.phase=decode",
                                       "workload.kv_len=64", "workload.batch=4", "workload.layers=1"])
    g = build_workload(w.model, w.params)
    assert {int(op.attrs["wire_rows"]) for op in g.ops if op.fn == "all_to_all" and op.kind is OpKind.COLLECTIVE} \
        == {16}
    r = simulate(w, {"base": "dgx-b200"}).to_dict()
    link = {o["name"].rsplit(".", 1)[1]: o["bytes"]["link"] for o in r["ops"] if o["name"].endswith(
        ("all_to_all_dispatch", "all_to_all_combine"))}
    assert link == {"all_to_all_dispatch": 16 * (1440 + 180) * 7 // 8, "all_to_all_combine": 16 * 2880 * 2 * 7 // 8}


TINY16 = {"architectures": ["MixtralForCausalLM"], "hidden_size": 128, "intermediate_size": 256,
          "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 1, "vocab_size": 256,
          "num_local_experts": 16, "num_experts_per_tok": 2}


def _wire(g) -> dict[str, int]:
    return {op.name.rsplit(".", 1)[1]: int(op.attrs["wire_rows"]) for op in g.ops
            if op.kind is OpKind.COLLECTIVE and op.fn == "all_to_all" and "wire_rows" in op.attrs}


def test_prefill_dedups_per_rank_and_decode_sends_per_expert():
    # 16 experts over EP 4 (4 a rank), top-2, balanced: a token misses a rank with C(12, 2) / C(16, 2) = 66/120,
    # so reaches 4 · 54/120 = 1.8 ranks. A prefill of 16 tokens a chip routes 32 rows; once per rank that is
    # ⌈32 · 1.8 / 2⌉ = 29 rows on the wire (the experts still get their 32)
    ranks = 4 * (1 - 66 / 120)
    params = {"config": TINY16, "dtype": "bf16", "expert_parallel": 4}
    g = build_workload("hf", {**params, "seq_len": 16})
    assert _wire(g) == {"all_to_all_dispatch": math.ceil(32 * ranks / 2), "all_to_all_combine": 29}
    assert all("fanout" in op.attrs for op in g.ops if op.fn == "all_to_all")
    # a decode step of 16 sequences: DeepEP's low-latency mode, a row per token-expert pair, 32
    g = build_workload("hf", {**params, "phase": "decode", "kv_len": 8, "batch": 16})
    assert _wire(g) == {"all_to_all_dispatch": 32, "all_to_all_combine": 32}
    assert not any("fanout" in op.attrs for op in g.ops if op.fn == "all_to_all")
    # training: Megatron-Core's all-to-all dispatcher, per expert (the forward's; the backward's move the gradients)
    g = build_workload("hf", {**params, "seq_len": 16, "mode": "training"})
    assert _wire(g) == {"all_to_all_dispatch": 32, "all_to_all_combine": 32}


def test_deepseek_v3_prefill_reads_its_group_limited_routing():
    # n_group 8 / topk_group 4 from the preset's config: 3.63 ranks a token at EP 8, 64 tokens a chip, top-8:
    # ⌈512 · 3.629 / 8⌉ = ⌈232.26⌉ = 233 rows
    w = load_workload("deepseek_v3", ["workload.layers=4", "workload.expert_parallel=8", "workload.seq_len=64"])
    g = build_workload(w.model, w.params)
    rows = {v for v in _wire(g).values()}
    assert rows == {math.ceil(512 * 4 * (1 - _miss(128, 32, 8)) / 8)} == {233}


def test_two_nodes_send_a_token_once_per_remote_node():
    from accelsim.api import simulate

    # 16 experts over EP 16 on two 8-GPU DGX nodes (one expert a GPU), top-2, 16 prompt tokens a GPU, bf16 rows of
    # 128 · 2 = 256 B. Per rank a token reaches 16 · (1 − C(15, 2) / C(16, 2)) = 2 ranks: 32 rows, 8192 B, as
    # before. A node (8 experts) is missed with C(8, 2) / C(16, 2) = 28/120, so a token crosses to the other node
    # with 92/120: 16 · 256 · 92/120 = 3140.3 B on the NIC (before: the (16 − 8)/16 of the 8192 B, 4096 B), and the
    # node's links carry the whole message's 7/8: 7168 B (DeepEP forwards the rows that arrive over RDMA)
    r = simulate({"model": "hf", "config": TINY16, "seq_len": 16, "dtype": "bf16", "expert_parallel": 16},
                 {"base": "dgx-h100", "chips": 16}).to_dict()
    (op,) = [o for o in r["ops"] if o["name"].endswith("layers.0.block_sparse_moe.all_to_all_dispatch")]
    assert op["mapping"]["message_bytes"] == 32 * 256
    assert op["mapping"]["nic_bytes"] == math.floor(16 * 256 * 92 / 120) == 3140
    assert op["bytes"]["link"] == 7 * 8192 // 8 + 3140


def test_a_zipf_skewed_prefill_receives_each_of_the_groups_tokens_once():
    # probe p280 #1. DeepSeek-V3 (256 experts, top-8, n_group 8 / topk_group 4) at EP 8, 64 prompt tokens a chip:
    # the group routes 8 · 64 = 512 tokens, 4096 assignments. Zipf skew 1 gives expert 0 the share 1 / H_256 of
    # them, 4096 / 6.1243 = 668.8, more than the 512 tokens, so it is capped at 512: every token picks expert 0,
    # and chip 0 (experts 0-31) receives each of the 512 tokens exactly once: 512 rows. It sends at most its 64
    # tokens × min(EP 8, k 8, topk_group 4) = 256, fewer. Before: its 4,096-ish pairs × the uniform D / k, 1,205
    # rows, 2.35 × the tokens that exist.
    harmonic = sum(1 / (i + 1) for i in range(256))
    assert 4096 / harmonic == pytest.approx(668.8, abs=0.05) and 4096 / harmonic > 512
    w = load_workload("deepseek_v3", ["workload.layers=4", "workload.expert_parallel=8", "workload.seq_len=64",
                                      "workload.moe_routing=skewed"])
    g = build_workload(w.model, w.params)
    assert _wire(g) == {"all_to_all_dispatch": 8 * 64, "all_to_all_combine": 8 * 64}
    from accelsim.builders.moe import rank_bound
    assert rank_bound(256, 8, 8, 8, 4) == 4 and 64 * 4 < 512


def test_counts_on_one_rank_bring_it_every_token_once():
    # 16 experts over EP 4 (4 a rank), top-2, 16 prompt tokens a chip: 64 tokens, 128 assignments, all given to
    # experts 0-3 (chip 0), 32 each. A token's 2 distinct picks both land on chip 0, so all 64 tokens reach it,
    # each once: 64 rows (the pairs over min(k, 4 experts) = 128 / 2; independent picks alone would say
    # 64 · (1 − (1 − 32/64)^4) = 60). Before: its 128 pairs × D / k = ⌈128 · 1.8 / 2⌉ = 116 rows, more than the 64
    # tokens of the whole group.
    params = {"config": TINY16, "dtype": "bf16", "expert_parallel": 4, "seq_len": 16, "moe_routing": "counts",
              "expert_counts": [1] * 4 + [0] * 12}
    assert _wire(build_workload("hf", params)) == {"all_to_all_dispatch": 64, "all_to_all_combine": 64}
    # with tensor parallelism 2 each chip dispatches its token shard, 8 of the 16: the group's tokens over the
    # shards, 4 · 8 = 32, reach chip 0 once each
    assert _wire(build_workload("hf", {**params, "tensor_parallel": 2})) == {"all_to_all_dispatch": 32,
                                                                              "all_to_all_combine": 32}


def test_reach_from_loads_and_rank_bound_by_hand():
    from accelsim.builders.moe import rank_bound, reach_from_loads

    # 64 tokens, top-2; experts 0 and 1 picked by 48 and 16 of them (p 0.75, 0.25): independent picks miss both
    # with 0.25 · 0.75, so reach 1 − 0.1875 = 0.8125, inside [max p = 0.75, min(1, Σ p = 1)]
    kept = [48, 16] + [0] * 14
    assert reach_from_loads(kept, [0, 1], 64, 2) == pytest.approx(1 - 0.25 * 0.75)
    assert reach_from_loads(kept, [2, 3], 64, 2) == 0.0  # no token picks them
    assert reach_from_loads([64] + [0] * 15, [0, 5], 64, 2) == 1.0  # every token picks expert 0
    assert reach_from_loads([32] * 4 + [0] * 12, [0, 1, 2, 3], 64, 2) == 1.0  # Σ p / min(k, m) = 4 · 0.5 / 2
    # the most ranks a token reaches: min(R, k), and under group-limited routing (G 8, g 4) g where R divides G,
    # g · R / G where G divides R
    assert rank_bound(256, 8, 8, 8, 4) == 4
    assert rank_bound(256, 8, 16, 8, 4) == 8
    assert rank_bound(256, 8, 4, 8, 4) == 4
    assert rank_bound(60, 4, 16) == 4
    assert rank_bound(8, 2, 8) == 2
