"""Partial rotary embeddings (``hf``): only each head's first ``int(head_dim · partial_rotary_factor)`` features are
rotated (transformers' ``apply_rotary_pos_emb`` on ``q[..., :rotary_dim]``, then ``torch.cat`` with the rest; vLLM's
rotary_embedding kernel rotates that slice in place). GLM-4.5-Air: head_dim 128, factor 0.5 → 64 features;
Qwen3-Next: head_dim 256, factor 0.25 → 64 (their published configs, workloads/*.yaml)."""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.config import load_workload
from accelsim.ir import OpKind


def _graph(preset, **params):
    w = load_workload(preset)
    return build_workload(w.model, {**w.params, "dtype": "bf16", "seq_len": 16, "layers": 4, **params})


@pytest.mark.parametrize(("preset", "layer", "heads", "kv_heads", "rot"),
                         [("glm4_5_air", 0, 96, 8, 64), ("qwen3_next_80b", 3, 16, 2, 64)])
def test_only_the_rotary_slice_is_rotated(preset, layer, heads, kv_heads, rot):
    g = _graph(preset)
    scope = f"model.layers.{layer}.self_attn"
    q, k = g[f"{scope}.q_rope.rotary"], g[f"{scope}.k_rope.rotary"]
    assert q.fn == k.fn == "rope"
    assert q.out_shape == (1, heads, 16, rot) and k.out_shape == (1, kv_heads, 16, rot)
    assert q.flops == 3 * heads * 16 * rot  # 3 flops per rotated element (x·cos + rotate(x)·sin)
    # the head is put back together in place: a view, no bytes of its own
    assert g[f"{scope}.q_rope"].kind is OpKind.CONCAT


def test_eager_rope_copies_the_whole_head_back():
    g = _graph("glm4_5_air", rope_kernel="eager")
    cat = g["model.layers.0.self_attn.q_rope"]
    assert cat.kind is OpKind.ELEMENTWISE and cat.fn == "cat" and cat.out_shape == (1, 96, 16, 128)


def test_a_factor_that_leaves_an_odd_slice_is_refused():
    with pytest.raises(ValueError, match="partial_rotary_factor: 0.2 rotates 25 of a head's 128 features"):
        _graph("glm4_5_air", partial_rotary_factor=0.2)


def test_phi4_mini_rotates_three_quarters_of_each_head():
    # microsoft/Phi-4-mini-instruct: Phi3ForCausalLM, 24 heads and 8 KV heads of 128, partial_rotary_factor 0.75,
    # tied; 3,836,021,760 parameters (Microsoft: 3.8 B): a 200,064 × 3,072 table, 32 layers of fused qkv (5,120
    # outputs), o_proj, gate_up (2 × 8,192), down and two norms, a final norm
    fields = dict(architectures=["Phi3ForCausalLM"], vocab_size=200064, hidden_size=3072, num_hidden_layers=32,
                  num_attention_heads=24, num_key_value_heads=8, intermediate_size=8192, partial_rotary_factor=0.75,
                  tie_word_embeddings=True)
    h = 3072
    layer = h * 5120 + h * h + h * 2 * 8192 + 8192 * h + 2 * h
    g = build_workload("hf", {"config": fields, "dtype": "bf16", "seq_len": 16})
    assert g.meta["model_params"] == 200064 * h + 32 * layer + h == 3_836_021_760
    assert g["model.layers.0.self_attn.q_rope.rotary"].out_shape == (1, 24, 16, 96)
