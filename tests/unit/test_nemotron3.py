"""Nemotron 3 Nano (``hf``, NemotronHForCausalLM with MoE blocks ``E``): the parameter counts and the experts' block.

Figures worked out below from workloads/nemotron3_nano_30b.yaml (the published config) and transformers'
modeling_nemotron_h (NemotronHMoE: a bias-free router ``gate`` whose correction bias is a buffer, 128 non-gated
experts up_proj → ReLU² → down_proj, one shared expert of the same form, no norm of its own). NVIDIA's technical
report (arXiv:2512.20848): 31.6 B parameters, 3.6 B active including the embeddings.
"""

from __future__ import annotations

from accelsim.builders import build_workload
from accelsim.config import load_workload

H, VOCAB = 2688, 131072
MH, P, N, G, K = 64, 64, 128, 8, 4
INNER, CONV = MH * P, MH * P + 2 * G * N
MAMBA = H * (INNER + CONV + MH) + CONV * K + CONV + 3 * MH + INNER + INNER * H
ATTN = H * 32 * 128 + 2 * H * 2 * 128 + 32 * 128 * H
EXPERT = 2 * H * 1856  # up and down, no gate
MOE = H * 128 + 128 * EXPERT + 2 * H * 3712  # router, experts, the shared expert


def _model(**params):
    w = load_workload("nemotron3_nano_30b")
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


def test_counts_are_the_technical_reports():
    pattern = load_workload("nemotron3_nano_30b").params["hybrid_override_pattern"]
    assert {c: pattern.count(c) for c in "ME*"} == {"M": 23, "E": 23, "*": 6}
    total = 23 * MAMBA + 23 * MOE + 6 * ATTN + 52 * H + 2 * VOCAB * H + H
    g = _model(seq_len=8)
    assert g.meta["model_params"] == total and round(total / 1e8) == 316  # "31.6B"
    active = total - 23 * (128 - 6) * EXPERT
    assert g.meta["moe"]["active_params"] == active and round(active / 1e8) == 36  # "3.6B including embeddings"


def test_the_experts_block_is_ungated_relu2():
    g = _model(seq_len=64, layers=2)
    up = g["backbone.layers.1.mixer.experts_0_127.up_proj"]
    assert up.gemm.count == 128 and up.weights[0].shape == (1856, H)
    assert g["backbone.layers.1.mixer.experts_0_127.act_fn"].fn == "relu2"
    assert g["backbone.layers.1.mixer.experts_0_127.down_proj"].inputs == ("backbone.layers.1.mixer.experts_0_127.act_fn",)
    assert g["backbone.layers.1.mixer.shared_experts.up_proj"].weights[0].shape == (3712, H)
    assert g["backbone.layers.1.mixer.gate"].weights[0].shape == (128, H) and len(g["backbone.layers.1.mixer.gate"].weights) == 1
    assert g["backbone.layers.1.add"].inputs[0] == "backbone.layers.0.add"  # the block's residual
