"""Expert parallelism follow-ups of probe p260: a per-rank (prefill) dispatch across nodes holding unequal shares
of its ranks is refused, as DeepEP refuses it (#1); a torus group strided inside an axis is priced on its real
positions (#2); an uneven EP split's busiest rank receives its own experts' distinct tokens (#4)."""

from __future__ import annotations

import math

import pytest

from accelsim.cli import main
from accelsim.cost.collective import fanout_nic_bytes
from accelsim.draws import dispatch_ranks

QWEN = ["-w", "qwen1_5_moe_a2_7b", "-a", "dgx-h100", "--set", "arch.chips=16", "--set", "workload.layers=1",
        "--set", "workload.seq_len=1024", "--no-plots", "-q"]


def test_a_prefill_dispatch_over_unequal_nodes_is_refused_at_expert_parallel(tmp_path, capsys):
    # EP 12 on 8-GPU DGX nodes: ranks 0-7 on node 0, 8-11 on node 1. DeepEP (deepseek-ai/DeepEP csrc/deep_ep.cpp,
    # Buffer::Buffer) asserts num_ranks < NUM_MAX_NVL_PEERS (8) or num_ranks % 8 == 0, so its normal-mode dispatch,
    # which an inference prefill's per-rank all-to-all models, cannot run it. Before: priced as 3 nodes of 4
    # (nic_bytes 6,817,021 where a chip sends at most 4,152,631)
    code = main(["run", *QWEN, "--set", "workload.expert_parallel=12", "-o", str(tmp_path / "e12")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "workload.expert_parallel:" in err and "DeepEP" in err
    # a decode step sends a row per token-expert pair (DeepEP's low-latency mode, not modelled per node): it runs
    assert main(["run", *QWEN, "--set", "workload.expert_parallel=12", "--set", "workload.phase=decode",
                 "--set", "workload.kv_len=64", "-o", str(tmp_path / "d12")]) == 0


def test_fanout_nic_bytes_counts_the_nodes_it_is_given():
    # 60 experts, top-4, 16 ranks over 2 nodes: the rows a token sends per rank, D_ranks = dispatch_ranks(60, 4,
    # 16), become rows per node, D_nodes = 2 · (1 − C(30, 4) / C(60, 4)) (30 experts a node)
    d_nodes = 2 * (1 - math.comb(30, 4) / math.comb(60, 4))
    assert dispatch_ranks(60, 4, 2) == pytest.approx(d_nodes)
    assert fanout_nic_bytes(10**9, (60, 4, 0, 0), 16, 2) == math.floor(10**9 * d_nodes / dispatch_ranks(60, 4, 16))


def _ring_mean(positions: list[int], n: int) -> float:
    """Mean shorter-way distance on a wrapped ring of n over the ordered pairs of positions (self included)."""
    return sum(min(abs(a - b), n - abs(a - b)) for a in positions for b in positions) / len(positions) ** 2


def test_a_group_strided_inside_a_torus_axis_takes_its_real_positions():
    from accelsim.config import load_arch
    from accelsim.energy.model import all_to_all_hops

    # mixtral EP 8 beside TP 2 on tpu-v5p-128 (a 4x4x4 wrapped torus, x fastest): the EP group is every 2nd chip
    # of 16, chips 0, 2, ..., 14: x in {0, 2} (2 positions 2 links apart, which cover the x ring), y in 0..3
    ic = load_arch("tpu-v5p-128").interconnect
    assert ic.shape == [4, 4, 4] and ic.wraparound
    assert ic.torus_axes(8, 16) == [(2, True, 2), (4, True, 1)]  # before: [(8, False)], one line of 8, a bound
    # mean hops over the 64 ordered pairs: x pairs (0, 2, 2, 0) / 4 = 1, y (0 + 1 + 2 + 1) / 4 = 1, so 2; per peer
    # 2 × 8/7 = 16/7 = 2.286 (before: the line's (64 − 1)/24 × 8/7 = 3.0)
    x, y = _ring_mean([0, 2], 4), _ring_mean([0, 1, 2, 3], 4)
    assert (x, y) == (1.0, 1.0)
    assert all_to_all_hops(load_arch("tpu-v5p-128"), 8, 16) == pytest.approx((x + y) * 8 / 7) == pytest.approx(16 / 7)
    # its all-to-all time: the x ring's links are shared with the other TP rank's group (x in {1, 3}), whose pieces
    # cross the same links: per link each way each group puts B/4 (a chip sends its 4 peers at the other x, B/2,
    # half each way), so B/2; the y ring's cut 4 B / 8 is the same. The chip's own bound: 7/8 B over
    # 2·L/2 + 2·L = 3 L. Hops: x 1 position × 2 links + y 2, 4 latencies, the larger of them and the bytes' time
    # (probe p285 #1; they were added). Before: a line of 8, 8 B / 4 L, 7 hops
    link = ic.link_bandwidth * ic.efficiency
    b = 4 * 2**20
    expected = max(b / 2 / link, 7 / 8 * b / (3 * link), 4 * ic.latency)
    assert ic.collective_seconds("all_to_all", b, 8, 16) == pytest.approx(expected, rel=1e-12)
    # a stride that does not divide the axis (3 on 4) is still the one-line bound
    assert ic.torus_axes(4, 12) == [(4, False, 1)]


def test_an_uneven_split_busiest_rank_receives_its_own_experts_distinct_tokens():
    from accelsim.builders import build_workload
    from accelsim.config import load_workload
    from accelsim.draws import rank_reach
    from accelsim.ir import OpKind

    # Qwen1.5-MoE (60 experts, top-4) at EP 7, a 256-token prefill a chip: the group routes 7 · 256 = 1792 tokens,
    # 7168 assignments. Rank 0 holds 9 experts (vLLM: 60 mod 7 = 4 ranks of 9), 4 · 120 + 5 · 119 = 1075 rows. A
    # token reaches it with 1 − C(51, 4) / C(60, 4) = 0.48753, so it receives 1792 · 0.48753 = 873.6 tokens; from
    # its rows, 1075 · 0.48753 · 60 / (4 · 9) = 873.5, rounded up 874. Before: ⌈1075 · D / 4⌉ = 883 with D =
    # dispatch_ranks(60, 4, 7) = 3.2846, the all-rank average (1 % high). It sends its 1024 routed rows × D / 4 =
    # 840.9, fewer.
    reach = 1 - math.comb(51, 4) / math.comb(60, 4)
    assert rank_reach(60, 4, 7, 9) == pytest.approx(reach) == pytest.approx(0.48753, abs=1e-5)
    assert 1792 * reach == pytest.approx(873.6, abs=0.05)
    w = load_workload("qwen1_5_moe_a2_7b", ["workload.expert_parallel=7", "workload.layers=1",
                                            "workload.seq_len=256"])
    g = build_workload(w.model, w.params)
    rows = {int(op.attrs["wire_rows"]) for op in g.ops if op.kind is OpKind.COLLECTIVE and op.fn == "all_to_all"}
    assert rows == {math.ceil(1075 * reach * 60 / (4 * 9))} == {874}
    # an even split (60 over EP 6, 10 each) keeps D / k: rank_reach is dispatch_ranks / R there
    assert rank_reach(60, 4, 6, 10) == pytest.approx(dispatch_ranks(60, 4, 6) / 6, rel=1e-12)


def test_fanout_nic_bytes_are_at_most_a_row_per_token_and_remote_node():
    # probe p280 #1. Qwen1.5-MoE (60 experts, top-4, rows of 2048 · 2 = 4096 B), EP 16 over 2 nodes, 1,024 tokens
    # a chip, balanced: its busiest rank's message is 4,044 rows (its received tokens), which scaled by D_nodes /
    # D_ranks gives 2,051.3 rows a node, half of them, 1,025.6, on the NIC. The chip sends each of its 1,024
    # tokens at most once to the other node and receives from its RDMA peer there (DeepEP: rank r of each node)
    # at most that peer's 1,024 tokens: at most 1,024 · 2 rows a node, so 1,024 on the NIC
    d_nodes, d_ranks = dispatch_ranks(60, 4, 2), dispatch_ranks(60, 4, 16)
    assert 4044 * d_nodes / d_ranks == pytest.approx(2051.3, abs=0.05)
    nbytes = 4044 * 4096
    assert fanout_nic_bytes(nbytes, (60, 4, 0, 0, 1024, 4044), 16, 2) == 1024 * 2 * 4096
    # below the bound it keeps the per-node scaling (the message of 1,000 rows: 507.2 < 2,048 a node)
    assert fanout_nic_bytes(1000 * 4096, (60, 4, 0, 0, 1024, 1000), 16, 2) == math.floor(
        1000 * 4096 * d_nodes / d_ranks)


def test_a_skewed_prefill_across_nodes_carries_the_tokens_there_are(tmp_path):
    import json

    # Qwen1.5-MoE at EP 16 over 2 DGX nodes, 1,024 tokens a chip: 16,384 tokens, 65,536 assignments. Zipf skew 1.2
    # gives expert 0 65,536 / Σ_{i ≤ 60} i^−1.2 = 19,329, capped at the 16,384 tokens: every token picks it, so
    # chip 0 receives each token once, 16,384 rows of 4,096 B (before: 32,142 rows), and its NIC at most a row
    # per token of its RDMA peer, 1,024 · 4,096 B (before: 8,152 rows, 33,390,066 B). Balanced routing keeps its
    # message (4,044 rows) and its NIC bytes drop from 1,025.6 rows (4,201,027 B) to the 1,024-row bound
    assert 65536 / sum(i ** -1.2 for i in range(1, 61)) > 16384
    out = {}
    for name, extra in (("skewed", ["--set", "workload.moe_routing=skewed", "--set", "workload.moe_skew=1.2"]),
                        ("balanced", [])):
        assert main(["run", *QWEN, "--set", "workload.expert_parallel=16", "--set", "workload.attention=fused",
                     *extra, "-o", str(tmp_path / name)]) == 0
        report = json.loads((tmp_path / name / "report.json").read_text())
        (op,) = [o for o in report["ops"] if o["name"].endswith("all_to_all_dispatch")]
        out[name] = op["mapping"]
    assert out["skewed"]["message_bytes"] == 16384 * 4096
    assert out["skewed"]["nic_bytes"] == out["balanced"]["nic_bytes"] == 1024 * 4096
    assert out["balanced"]["message_bytes"] == 4044 * 4096
