"""Tensor parallelism (Megatron-style sharding of attention heads and MLP width, all-reduce after row-split
linears): shard sizes by hand, the all-reduce on the links by the collective formula, and clear errors."""

from __future__ import annotations

import math

import pytest

from accelsim.builders import build_workload
from accelsim.config import load_arch
from accelsim.errors import MappingError, WorkloadError
from accelsim.mapping import lower
from accelsim.options import Options


def _llama(tp, **extra):
    return build_workload("llama2_7b", {"tensor_parallel": tp, "phase": "decode", "kv_len": 128, **extra},
                          default_dtype="bf16")


def test_llama_shard_params_and_all_reduces_by_hand():
    # LLaMA-2-7B: 6,738,415,616 params; the 65 RMSNorm vectors 65·4096 = 266,240 are replicated; the other
    # 6,738,149,376 are split 4 ways, the embedding and LM head by vocabulary rows (vLLM's VocabParallelEmbedding
    # and ParallelLMHead: 32000 / 4 = 8000 rows of 4096 each)
    g = _llama(4)
    assert g.params == 6_738_149_376 // 4 + 266_240
    assert g["model.embed_tokens"].weights[0].shape == g["lm_head"].weights[0].shape == (8000, 4096)
    ars = [op for op in g.ops if op.kind.value == "collective" and op.fn == "all_reduce"]
    # after o_proj and after down_proj in every layer, and the embedding's partial look-ups
    assert len(ars) == 2 * 32 + 1
    assert all(op.out_bytes == 1 * 1 * 4096 * 2 and op.attrs["group"] == 4 for op in ars)
    # the logits of the 4 shards all-gathered for sampling: 32000 of 2 bytes for the one token
    (gather,) = [op for op in g.ops if op.fn == "all_gather"]
    assert gather.inputs == ("lm_head",) and gather.out_bytes == 32000 * 2
    # attention heads split: 32 / 4 = 8 local heads of 128
    scores = next(op for op in g.ops if op.name.endswith("self_attn.scores"))
    assert scores.gemm.count == 8


def test_bert_shard_splits_the_mlp_as_megatron_does():
    # bert-base: 109,482,240 params (HF bert-base-uncased). Per layer the attention's q/k/v (3·(768·768 + 768)) and
    # the MLP's intermediate.dense (768·3072 + 3072) are column-split, output projections' weights (768·768 and
    # 3072·768) row-split with their biases replicated; embeddings, LayerNorms and the pooler replicated. So a
    # TP-2 shard holds 109,482,240 − 12·(3·768·768 + 3·768 + 768·3072 + 3072 + 768·768 + 3072·768) / 2 params.
    split = 3 * 768 * 768 + 3 * 768 + 768 * 3072 + 3072 + 768 * 768 + 3072 * 768
    g = build_workload("bert_base", {"tensor_parallel": 2}, default_dtype="fp16")
    assert g.params == 109_482_240 - 12 * split // 2
    inter = next(op for op in g.ops if op.name.endswith("layer.0.intermediate.dense"))
    assert inter.weights[0].shape == (3072 // 2, 768)
    ars = [op for op in g.ops if op.kind.value == "collective"]
    assert len(ars) == 2 * 12  # after the attention's output.dense and after the MLP's output.dense


def test_all_reduce_task_takes_the_collective_model_on_dgx_a100():
    # dgx-a100 (collective: nccl, accelsim.cost.collective): NCCL's 240 GB/s bus bandwidth, link latency
    # 8.92 µs; an all-reduce of 8,192 B over 4 GPUs is a ring under NCCL's LL protocol (4 data bytes in 8):
    # 6.6 + 2·3 · 0.6 µs (NCCL 2.20.3 ring LL latency) + 8.92 µs + (2·3/4 · 8192 + one chunk of fill 8192 / 4) B /
    # min(12 channels · 20 GB/s / 2, NCCL's LL ceiling on Ampere 87.7e9) s at 1.41 GHz
    arch = load_arch("dgx-a100")
    tg = lower(_llama(4), arch, Options())
    link = [t for t in tg.tasks if t.level == "link" and tg.ops[t.op].fn == "all_reduce"]
    assert len(link) == 65  # two a layer and the embedding's
    expected = math.ceil(((6.6 + 6 * 0.6 + 8.92) * 1e-6 + (2 * 3 / 4 * 8192 + 8192 / 4) / 87.7e9) * 1.41e9)
    assert all(t.cycles == expected for t in link)


def test_tensor_parallel_needs_enough_chips_and_divisible_heads():
    with pytest.raises(MappingError, match="at least 4 chips"):
        lower(_llama(4), load_arch("a100"), Options())
    with pytest.raises(WorkloadError, match="tensor_parallel 3 must divide heads"):
        _llama(3)
    with pytest.raises(WorkloadError, match="not supported for SAM"):
        build_workload("sam_vit_b", {"tensor_parallel": 2}, default_dtype="bf16")


def test_training_with_tensor_parallelism_has_a_backward_all_reduce_per_forward_one():
    g = build_workload("gpt2", {"tensor_parallel": 2, "seq_len": 64, "mode": "training"}, default_dtype="bf16")
    fwd = [op for op in g.ops if op.kind.value == "collective" and op.attrs["phase"] == "forward"]
    bwd = [op for op in g.ops if op.kind.value == "collective" and op.attrs["phase"] == "backward"]
    assert len(fwd) == len(bwd) == 2 * 12
