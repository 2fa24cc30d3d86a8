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
