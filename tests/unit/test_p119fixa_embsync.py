"""Probe p119 #2: a pipeline's embedding-gradient all-reduce moves the gradient in its dtype, fp32 for a bf16
model (units.GRAD_DTYPE: Megatron's _allreduce_word_embedding_grads reduces the fp32 main_grad). Probe p157 #2: it is
an NCCL all-reduce of two ranks, priced by the collective model as the same pair's data-parallel all-reduce is."""

from __future__ import annotations

import pytest

from accelsim.api import simulate
from accelsim.config import load_arch, load_workload


def test_gpt3_embedding_sync_moves_the_fp32_gradient():
    # GPT-3 175B on Selene's dgx-a100 (experiments/gpt3_175b_training_selene.yaml's shape, 1 layer a stage): the
    # vocabulary 50,257 padded to a multiple of 128 x TP 8 = 1,024 is 51,200; each TP rank's shard 6,400 x 12,288 =
    # 78,643,200 parameters, whose gradient Megatron all-reduces in fp32 (main_grad, units.GRAD_DTYPE): 314,572,800 B
    # across the nodes of stage 0 and stage 7. An NCCL all-reduce of 2 ranks in 2 nodes, one HDR NIC each (probe
    # p157 #2: it was priced as one send, 20 us + bytes / 22.5 GB/s = 14.0 ms, where the same pair's data-parallel
    # all-reduce pays NCCL's ring): NCCL's ring across nodes (cost/collective.py ring_across_nodes), Simple protocol:
    #   latency: baseLat ring/Simple 8.4 us + 2 steps, both crossing the network (2M = 4, at most 2(N-1) = 2), x 20 us
    #   bytes: 2(N-1)/N x size = size, + the ring's fill min(size / 2, 24 runtime channels x 2 MiB chunk) = 50,331,648
    #   rate: one NIC, 25 GB/s x 0.9 = 22.5 GB/s (one chip a node: no NVLink hop, no link latency)
    # = 8.4 us + 40 us + (314,572,800 + 50,331,648) B / 22.5 GB/s = 16.27 ms
    rep = simulate(load_workload({"model": "gpt", "hidden": 12288, "heads": 96, "layers": 8, "seq_len": 2048,
                                  "batch": 1, "micro_batches": 8, "mode": "training", "recompute": "full",
                                  "tensor_parallel": 8, "pipeline_parallel": 8}),
                   load_arch("dgx-a100", ["chips=64"]), layer_samples=False).to_dict()
    nbytes = 51_200 // 8 * 12_288 * 4
    assert nbytes == 314_572_800
    fill = min(nbytes / 2, 24 * 2 * 2**20)
    assert fill == 50_331_648
    assert rep["pipeline"]["embedding_sync_s"] == pytest.approx(8.4e-6 + 2 * 20e-6 + (nbytes + fill) / (25e9 * 0.9),
                                                                rel=1e-12)  # 16.27 ms


def test_an_fp16_models_embedding_sync_stays_fp16():
    # fp16 gradients stay fp16 (units.GRAD_DTYPE maps only bf16): a two-stage gpt of a 1024 x 256 table on one
    # node of dgx-h100, all-reduced by NCCL as any pair's all-reduce (probe p157 #2: it was one send, 8.92 us + bytes /
    # (450 GB/s x 0.82)). At these sizes NCCL's tuner picks ring/LL (cost/collective.py): latency baseLat ring/LL
    # 6.6 us + 2(N-1) = 2 hops x 0.6 us + the link's 8.92 us (arch/dgx-h100.yaml); bytes 2(N-1)/N x size = size, +
    # the ring's fill min(size / 2, 24 runtime channels x 32 KiB LL chunk); rate LL's Hopper cap 141 GB/s (tuning.cc
    # llMaxBws, below 12 channels x 30 GB/s x 1/2)
    arch = load_arch("dgx-h100")

    def all_reduce(nbytes):
        return 6.6e-6 + 2 * 0.6e-6 + 8.92e-6 + (nbytes + min(nbytes / 2, 24 * 32 * 1024)) / 141e9

    rep = simulate(load_workload({"model": "gpt", "hidden": 256, "heads": 4, "layers": 2, "seq_len": 64,
                                  "vocab": 1024, "batch": 2, "mode": "training", "dtype": "fp16",
                                  "pipeline_parallel": 2, "micro_batches": 2}), arch).to_dict()
    assert rep["pipeline"]["embedding_sync_s"] == pytest.approx(all_reduce(1024 * 256 * 2), rel=1e-12)
    bf16 = simulate(load_workload({"model": "gpt", "hidden": 256, "heads": 4, "layers": 2, "seq_len": 64,
                                   "vocab": 1024, "batch": 2, "mode": "training", "dtype": "bf16",
                                   "pipeline_parallel": 2, "micro_batches": 2}), arch).to_dict()
    assert bf16["pipeline"]["embedding_sync_s"] == pytest.approx(all_reduce(1024 * 256 * 4), rel=1e-12)  # fp32


def test_the_embedding_groups_all_reduce_costs_what_the_same_pairs_data_parallel_all_reduce_does():
    # probe p157 #2: the same 2-rank all-reduce of the same fp32 gradient, one rank in each of two dgx-h100 nodes
    # (TP 8 fills a node), was 1.136 ms as the embedding group's (r17: a send) and 1.722 ms as a data-parallel pair's
    # (r14). Stage 0 and stage 1 of a pipeline (chips 0-7, 8-15) and the two replicas of the same model without a
    # pipeline (the same chips) reduce the same 1024/8 x 256 fp32 word-embedding gradient between the same chips 0
    # and 8: one price, NCCL's, the same algorithm
    params = {"model": "gpt", "hidden": 256, "heads": 8, "layers": 4, "seq_len": 64, "vocab": 1024, "batch": 2,
              "mode": "training", "dtype": "bf16", "tensor_parallel": 8}
    arch = load_arch("dgx-h100", ["chips=16"])
    piped = simulate(load_workload({**params, "pipeline_parallel": 2, "micro_batches": 4}), arch).to_dict()
    paired = simulate(load_workload(params), arch).to_dict()
    row = next(r for r in paired["ops"] if r["name"] == "language_model.embedding.word_embeddings.weight.step")
    # the data-parallel row reduces the same buffer: at 131,072 B NCCL runs its tree between the two nodes, all of it
    # through the NIC (one chip a node). Double binary tree over M = 2: one edge a tree, each tree's half of the
    # buffer crossing it once up and once down, two trees: 2 S in all, S a chip = 2 (M - 1) S / M (probe p247 #2:
    # this test said 2 x size, the bus-bandwidth convention, not the bytes the tree's edges carry)
    assert row["mapping"]["all_reduce_algorithm"] == "tree"
    assert row["bytes"]["link"] == row["mapping"]["nic_bytes"] == 1024 // 8 * 256 * 4
    assert piped["pipeline"]["embedding_sync_s"] == pytest.approx(row["mapping"]["all_reduce_s"], rel=1e-12)
    assert piped["pipeline"]["embedding_sync_s"] > 20e-6 + 1024 // 8 * 256 * 4 / (50e9 * 0.94)  # more than one NDR send
    # (arch/dgx-h100.yaml scale_out: 50 GB/s x 0.94, 20 us), what it was priced as
