"""GLM-4.5 (``hf``, Glm4MoeForCausalLM): the parameter counts of GLM-4.5-Air and GLM-4.5 and the layer structure.

Figures worked out below from workloads/glm4_5_air.yaml (the published config's sizes; GLM-4.5's differences in the
preset's comment) and transformers' modeling_glm4_moe (Glm4MoeAttention: q/k/v biases, no o_proj bias;
Glm4MoeMoE: a router without a bias parameter, ungated shared experts; the MTP layer not built). Zhipu: GLM-4.5-Air
106 B total and 12 B active, GLM-4.5 355 B and 32 B.
"""

from __future__ import annotations

from accelsim.builders import build_workload
from accelsim.config import load_workload

V = 151552


def _model(**params):
    w = load_workload("glm4_5_air")
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


def _count(h, layers, dense, ffn, mffn, experts, qk_norm):
    attn = 2 * h * 96 * 128 + 2 * h * 8 * 128 + 96 * 128 + 2 * 8 * 128 + (2 * 128 if qk_norm else 0)
    expert = 3 * h * mffn
    moe = h * experts + (experts + 1) * expert  # router, routed experts and the shared one
    total = layers * (attn + 2 * h) + dense * 3 * h * ffn + (layers - dense) * moe + 2 * V * h + h
    active = total - (experts - 8) * expert * (layers - dense)
    return total, active


def test_glm4_5_air_and_glm4_5_counts():
    total, active = _count(4096, 46, 1, 10944, 1408, 128, False)
    g = _model(seq_len=8)
    assert g.params == g.meta["model_params"] == total == 106_852_245_504
    assert g.meta["moe"]["active_params"] == active
    assert round((active - 2 * V * 4096) / 1e9) == 12 and round((total - 2 * V * 4096) / 1e9) == 106
    big = dict(hidden_size=5120, intermediate_size=12288, moe_intermediate_size=1536, num_hidden_layers=92,
               first_k_dense_replace=3, n_routed_experts=160, use_qk_norm=True)
    total, active = _count(5120, 92, 3, 12288, 1536, 160, True)
    g = _model(seq_len=8, **big)
    assert g.params == total and round((g.meta["moe"]["active_params"] - 2 * V * 5120) / 1e9) == 32
    assert abs((total - 2 * V * 5120) / 355e9 - 1) < 0.015  # "355 B" counts the MTP layer too


def test_the_attention_biases_and_the_first_dense_layer():
    g = _model(seq_len=16, layers=2)
    q, o = g["model.layers.0.self_attn.q_proj"], g["model.layers.0.self_attn.o_proj"]
    assert [w.name.rsplit(".", 1)[-1] for w in q.weights] == ["weight", "bias"]
    assert [w.name.rsplit(".", 1)[-1] for w in o.weights] == ["weight"]
    assert g["model.layers.0.mlp.gate_proj"].weights[0].shape == (10944, 4096)  # layer 0 dense
    assert g["model.layers.1.mlp.gate"].weights[0].shape == (128, 4096) and len(g["model.layers.1.mlp.gate"].weights) == 1
    assert g["model.layers.1.mlp.shared_experts.down_proj"].weights[0].shape == (4096, 1408)
