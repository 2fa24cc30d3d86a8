"""Probe p119 #2: a pipeline's embedding-gradient all-reduce moves the gradient in its dtype, fp32 for a bf16
model (units.GRAD_DTYPE: Megatron's _allreduce_word_embedding_grads reduces the fp32 main_grad)."""

from __future__ import annotations

import pytest

from accelsim.api import simulate
from accelsim.config import load_arch, load_workload


def test_gpt3_embedding_sync_moves_the_fp32_gradient():
    # GPT-3 175B on Selene's dgx-a100 (experiments/gpt3_175b_training_selene.yaml's shape, 1 layer a stage): the
    # vocabulary 50,257 padded to a multiple of 128 x TP 8 = 1,024 is 51,200; each TP rank's shard 6,400 x 12,288 =
    # 78,643,200 parameters, whose gradient Megatron all-reduces in fp32 (main_grad, units.GRAD_DTYPE): 314,572,800 B
    # across the nodes of stage 0 and stage 7 at HDR's 25 GB/s x 0.9 + 20 us
    rep = simulate(load_workload({"model": "gpt", "hidden": 12288, "heads": 96, "layers": 8, "seq_len": 2048,
                                  "batch": 1, "micro_batches": 8, "mode": "training", "recompute": "full",
                                  "tensor_parallel": 8, "pipeline_parallel": 8}),
                   load_arch("dgx-a100", ["chips=64"]), layer_samples=False).to_dict()
    nbytes = 51_200 // 8 * 12_288 * 4
    assert nbytes == 314_572_800
    assert rep["pipeline"]["embedding_sync_s"] == pytest.approx(20e-6 + nbytes / (25e9 * 0.9), rel=1e-12)  # 14.0 ms


def test_an_fp16_models_embedding_sync_stays_fp16():
    # fp16 gradients stay fp16 (units.GRAD_DTYPE maps only bf16): a two-stage gpt of a 1024 x 256 table on one
    # node of dgx-h100 (arch/dgx-h100.yaml: NVLink 450 GB/s a direction x efficiency 0.82, latency 8.92 us)
    arch = load_arch("dgx-h100")

    def send(nbytes):
        return 8.92e-6 + nbytes / (450e9 * 0.82)

    rep = simulate(load_workload({"model": "gpt", "hidden": 256, "heads": 4, "layers": 2, "seq_len": 64,
                                  "vocab": 1024, "batch": 2, "mode": "training", "dtype": "fp16",
                                  "pipeline_parallel": 2, "micro_batches": 2}), arch).to_dict()
    assert rep["pipeline"]["embedding_sync_s"] == pytest.approx(send(1024 * 256 * 2), rel=1e-12)
    bf16 = simulate(load_workload({"model": "gpt", "hidden": 256, "heads": 4, "layers": 2, "seq_len": 64,
                                   "vocab": 1024, "batch": 2, "mode": "training", "dtype": "bf16",
                                   "pipeline_parallel": 2, "micro_batches": 2}), arch).to_dict()
    assert bf16["pipeline"]["embedding_sync_s"] == pytest.approx(send(1024 * 256 * 4), rel=1e-12)  # fp32
