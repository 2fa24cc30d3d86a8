"""T5 (builders/t5.py): Hugging Face's parameter counts worked out from the checkpoints' config.json, the relative
position bias shared by a stack's layers, the tied head."""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.ir import OpKind


def _t5_params(d: int, d_ff: int, heads: int, d_kv: int, layers: int, vocab: int = 32_128, buckets: int = 32) -> int:
    attn = 4 * d * heads * d_kv  # q, k, v, o without biases
    ffn = 2 * d * d_ff  # wi, wo
    encoder = layers * (attn + ffn + 2 * d) + buckets * heads + d  # two RMS norms per block, bias table, final norm
    decoder = layers * (2 * attn + ffn + 3 * d) + buckets * heads + d
    return vocab * d + encoder + decoder  # one shared table (tied head)


@pytest.mark.parametrize(("name", "config", "published"), [
    # config.json of t5-small / t5-base; 60,506,624 is the "60.5M" of the t5-small model card and 222,903,552 the
    # 222.9 M of t5-base (transformers' num_parameters())
    ("t5_small", (512, 2048, 8, 64, 6), 60_506_624),
    ("t5_base", (768, 3072, 12, 64, 12), 222_903_552),
])
def test_t5_params(name, config, published):
    assert _t5_params(*config) == published
    assert build_workload(name, {"src_len": 16, "tgt_len": 8}).params == published


def test_t5_small_structure_and_macs():
    s, t, d, ff, h = 16, 8, 512, 2048, 8
    g = build_workload("t5_small", {"src_len": s, "tgt_len": t})
    # MACs: encoder layers 4·s·d² + 2·s²·d + 2·s·d·ff; decoder layers self 4·t·d² + 2·t²·d, cross q,o 2·t·d² +
    # k,v 2·s·d² + 2·t·s·d, ffn 2·t·d·ff; head t·d·vocab
    enc = 6 * (4 * s * d * d + 2 * s * s * d + 2 * s * d * ff)
    dec = 6 * (4 * t * d * d + 2 * t * t * d + 2 * t * d * d + 2 * s * d * d + 2 * t * s * d + 2 * t * d * ff)
    assert g.macs == enc + dec + t * d * 32_128
    # one position-bias look-up per stack, added to the scores of each of its 6 self-attention layers
    bias = [op for op in g.ops if op.kind is OpKind.EMBEDDING and "position_bias" in op.name]
    assert [op.out_shape for op in bias] == [(1, s, s, h), (1, t, t, h)]
    adds = [op for op in g.ops if op.fn == "add_rel_pos"]
    assert len(adds) == 12 and adds[0].inputs[1] == "encoder.position_bias_heads"
    assert g["lm_head"].weights[0].name == "shared.weight"  # tied: counted once
    fused = build_workload("t5_small", {"src_len": s, "tgt_len": t, "attention": "fused"})
    assert fused.macs == g.macs and fused.params == g.params


def test_t5_small_tensor_parallel_shard_by_hand():
    # t5-small at TP 2 (Megatron's T5 split). Per encoder layer q/k/v/o 4 x 512² and wi/wo 2 x 512 x 2048 are split,
    # its 2 RMS norms (512 each) kept: 6 x (1,048,576 / 2 + 2,097,152 / 2 + 1,024) = 9,443,328. Per decoder layer two
    # attentions and the feed-forward split, 3 norms kept: 6 x (2,097,152 / 2 + 2,097,152 / 2 + 1,536) = 12,592,128.
    # The shared 32,128 x 512 table (and tied head) by vocabulary rows: 16,064 x 512 = 8,224,768; both stacks'
    # 32 x 8 position-bias tables and 2 final norms kept: 512 + 1,024
    g = build_workload("t5_small", {"tensor_parallel": 2}, default_dtype="fp16")
    assert g.params == 9_443_328 + 12_592_128 + 8_224_768 + 512 + 1_024
    assert g.meta["model_params"] == 60_506_624  # the whole model's, as at TP 1
    # an all-reduce after o and wo: 2 a encoder layer, 3 a decoder layer (o of self- and cross-attention, wo), and
    # one after each stack's vocabulary-parallel embedding; the logits all-gathered for sampling
    coll = [op.fn for op in g.ops if op.kind is OpKind.COLLECTIVE]
    assert coll.count("all_reduce") == 6 * 2 + 6 * 3 + 2 and coll.count("all_gather") == 1
    # 8 heads of 64 split 2 ways: each chip's scores are (batch, 4 heads, 512, 512)
    scores = next(op for op in g.ops if op.name.endswith("encoder.block.0.layer.0.SelfAttention.scores"))
    assert scores.out_shape[1] == 4
    with pytest.raises(Exception, match="tensor_parallel 3 must divide the heads"):
        build_workload("t5_small", {"tensor_parallel": 3}, default_dtype="fp16")


def test_t5_tensor_parallel_training_all_reduces_the_encoder_outputs_gradient_per_decoder_layer():
    # Megatron's T5: every decoder layer's cross-attention k and v are column-split linears on the encoder output,
    # whose copy_to_tensor_model_parallel_region all-reduces its gradient: 6 backward all-reduces of
    # (batch 1, src 512, d 512) beside the 2 x 6 of the encoder layers' column-split inputs (self-attention qkv, MLP
    # wi). The decoder's 6 x 3 column-split inputs (self-attention qkv, cross-attention q, MLP wi) and the LM head's
    # (its copy_to region) give 19 of (1, tgt 128, 512). The embeddings' all-reduces (reduce_from regions) pass
    # their gradients through: 37 in all, none for an embedding
    g = build_workload("t5_small", {"tensor_parallel": 2, "mode": "training"}, default_dtype="fp16")
    backward = [op for op in g.ops if op.kind is OpKind.COLLECTIVE and op.attrs.get("phase") == "backward"]
    src = [op for op in backward if op.out_shape == (1, 512, 512)]
    assert len([op for op in src if "memory_copy" in op.name]) == 6
    assert len(src) == 6 + 2 * 6
    assert len([op for op in backward if op.out_shape == (1, 128, 512)]) == 6 * 3 + 1
    assert len(backward) == 37 and not [op for op in backward if "embed_tokens" in op.name]
