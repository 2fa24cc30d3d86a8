"""Tensor parallelism of the diffusion transformers (DiT, FLUX.1; Megatron-style, as the LLM builders shard) and
Stable Diffusion's one-line refusal."""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.config import load_workload
from accelsim.errors import ConfigError, WorkloadError
from accelsim.ir import OpKind

DIT_XL_2_PARAMS = 674_834_720  # facebookresearch/DiT models.py, DiT-XL/2 (tests/unit/test_dit.py)


def _dit(tp: int):
    return build_workload("dit_xl_2", {"part": "transformer", "tensor_parallel": tp, "dtype": "bf16"})


def test_dit_shards_heads_and_mlp_and_all_reduces_twice_a_block():
    whole, shard = _dit(1), _dit(2)
    # DiT-XL/2 at 256²: 2 (guidance) × 16² tokens = 512 rows, hidden 1152, 16 heads of 72, MLP 4608, 28 blocks
    rows, d, mlp, depth = 2 * 256, 1152, 4608, 28
    qkv, proj = shard["blocks.0.attn.qkv"], shard["blocks.0.attn.proj"]
    assert (qkv.gemm.m, qkv.gemm.n, qkv.gemm.k) == (rows, 3 * d // 2, d)  # column-split: 8 of 16 heads
    assert (proj.gemm.m, proj.gemm.n, proj.gemm.k) == (rows, d, d // 2)  # row-split
    fc1, fc2 = shard["blocks.0.mlp.fc1"], shard["blocks.0.mlp.fc2"]
    assert (fc1.gemm.n, fc1.gemm.k, fc2.gemm.n, fc2.gemm.k) == (mlp // 2, d, d, mlp // 2)
    # per block the sharded linears' MACs are half the whole's: rows · (3d² + d² + 2·d·mlp) / 2, and attention
    # 2 · rows · 256 · 72 · 16 / 2 (both matmuls over 8 of 16 heads)
    per_block = rows * (3 * d * d + d * d + 2 * d * mlp) // 2 + 2 * 2 * 256 * 256 * 72 * 16 // 2
    block = [op for op in shard.ops if op.name.startswith("blocks.0.") and op.name.split(".")[2] in ("attn", "mlp")]
    assert sum(op.macs for op in block) == per_block
    # the replicated rest (patch embed, t/y embedders, adaLN modulations, final layer) stays whole, so
    # shard = whole − depth · per_block (the other half of each block's sharded work)
    assert shard.macs == whole.macs - depth * per_block
    # an all-reduce after attention and after the MLP: 2 · 28, each of the (2, 256, 1152) bf16 output,
    # 2 · 256 · 1152 · 2 = 1,179,648 bytes
    reduces = [op for op in shard.ops if op.kind is OpKind.COLLECTIVE]
    assert len(reduces) == 2 * depth and {op.fn for op in reduces} == {"all_reduce"}
    assert {op.out_bytes for op in reduces} == {2 * 256 * 1152 * 2} and {op.attrs["group"] for op in reduces} == {2}
    assert not [op for op in whole.ops if op.kind is OpKind.COLLECTIVE]
    # params: one chip's shard, the model's count beside it
    assert whole.params == DIT_XL_2_PARAMS and shard.meta["model_params"] == DIT_XL_2_PARAMS
    assert shard.params == DIT_XL_2_PARAMS - depth * (4 * d * d + 2 * d * mlp) // 2 - depth * (3 * d + mlp) // 2


def test_flux_shards_both_block_kinds():
    p = {"part": "transformer", "dtype": "bf16", "image_size": 512}
    whole = build_workload("flux1_schnell", p)
    shard = build_workload("flux1_schnell", {**p, "tensor_parallel": 8})
    assert shard.meta["model_params"] == whole.params == 11_891_178_560  # FluxTransformer2DModel, schnell
    # 24 heads of 128 → 3 a chip; the single block's proj_out reads 3·128 attention + 12288 / 8 MLP features
    assert shard["transformer_blocks.0.attn.q"].out_shape[1] == 3
    assert shard["single_transformer_blocks.0.proj_out"].gemm.k == 3 * 128 + 4 * 3072 // 8
    # all-reduces: a double block's to_out, to_add_out, ff and ff_context (19 blocks); a single block's proj_out (38)
    reduces = [op for op in shard.ops if op.kind is OpKind.COLLECTIVE]
    assert len(reduces) == 4 * 19 + 38


def test_dit_tp_must_divide_the_heads():
    with pytest.raises(WorkloadError, match="tensor_parallel 3 must divide heads"):
        _dit(3)


@pytest.mark.parametrize("model", ["sd15", "sdxl"])
def test_stable_diffusion_refuses_tensor_parallel_with_a_reason(model):
    w = load_workload({"base": model, "tensor_parallel": 2})
    with pytest.raises((WorkloadError, ConfigError), match="not supported for Stable Diffusion"):
        build_workload(w.model, w.params)
