"""Jamba (``hf``, JambaForCausalLM): Mamba-1 mixers (with RMSNorms on dt, B and C) and attention one layer in eight,
MoE every other layer; the parameter count.

Figures worked out below from JambaConfig's defaults (Jamba-v0.1's sizes: 4,096 wide, 32 layers, 16 experts top 2,
a 16-wide state) and transformers' modeling_jamba (JambaMambaMixer, JambaAttentionDecoderLayer,
JambaSparseMoeBlock). AI21: Jamba has 52 B parameters, 12 B active.
"""

from __future__ import annotations

from accelsim.builders import build_workload
from accelsim.builders.hf import HfParams, identical_layers

H, FFN, INNER, N, RANK, VOCAB = 4096, 14336, 8192, 16, 256, 65536
MAMBA = (H * 2 * INNER + INNER * 4 + INNER + INNER * (RANK + 2 * N) + RANK + 2 * N + RANK * INNER + INNER
         + INNER * N + INNER + INNER * H)  # in_proj, conv, x_proj, the dt/B/C norms, dt_proj, A_log, D, out_proj
ATTN = 2 * H * H + 2 * H * 1024
MLP = 3 * H * FFN
MOE = H * 16 + 16 * MLP
JAMBA = {"architectures": ["JambaForCausalLM"]}


def test_parameter_count_by_hand():
    # attention on layers 4, 12, 20, 28 (i % 8 == 4), MoE on the odd layers
    total = 28 * MAMBA + 4 * ATTN + 16 * MOE + 16 * MLP + 32 * 2 * H + 2 * VOCAB * H + H
    g = build_workload("hf", {"config": JAMBA, "seq_len": 8, "dtype": "bf16"})
    assert g.params == total == 51_570_323_328 and round(total / 1e9) == 52
    active = total - 14 * MLP * 16
    assert g.meta["moe"]["active_params"] == active and round(active / 1e9) == 12


def test_the_layer_kinds():
    g = build_workload("hf", {"config": JAMBA, "seq_len": 64, "dtype": "bf16", "layers": 5})
    names = {op.name for op in g.ops}
    assert {"model.layers.0.mamba.selective_scan", "model.layers.0.mamba.b_layernorm",
            "model.layers.4.self_attn.scores", "model.layers.1.feed_forward.router",
            "model.layers.0.feed_forward.down_proj"} <= names
    assert not any("rope" in n for n in names)  # no positional encoding
    # attention at i % 8 == 4 and MoE at odd i repeat every 8 layers: 32 layers are 4 units of 8 (layer_samples: the
    # first 8 and 16)
    assert identical_layers(HfParams(config=JAMBA)) == (0, 32, 8)
