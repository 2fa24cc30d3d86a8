"""Kimi Linear (``hf``, KimiLinearForCausalLM): Kimi Delta Attention and NoPE latent attention layers, the parameter
count, KDA's chunked kernels and state, and the refusals.

Every expected figure is worked out below from workloads/kimi_linear_48b.yaml (the published config's sizes) and the
structure of moonshotai's modeling_kimi.py (KimiDeltaAttention, KimiMLAAttention, the DeepSeek-V3-style MoE) and
FLA's chunk_kda (chunks of 64). Moonshot: 48 B total, 3 B active ("A3B").
"""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from accelsim.builders import build_workload
from accelsim.config import load_workload

H, VOCAB, HEADS, D = 2304, 163840, 32, 128
HD = HEADS * D
KDA = 3 * HD * H + 3 * HD * 4 + (H * D + D * HD) * 2 + HEADS * H + HD + HEADS + D + HD * H
# q/k/v, their convs, the low-rank decay and output gates, b_proj, dt_bias, A_log, o_norm, o_proj
MLA = H * HEADS * 192 + H * 576 + 512 + 512 * HEADS * 256 + HEADS * 128 * H  # q_proj, kv_a, its norm, kv_b, o
EXPERT = 3 * H * 1024
MOE = H * 256 + 256 + 256 * EXPERT + EXPERT  # router with its correction bias, 256 experts, the shared one
KDA_STATE = HEADS * D * D * 4 + 3 * HD * 3 * 2  # the fp32 state and three convs' last taps (bf16)


def _model(**params):
    w = load_workload("kimi_linear_48b")
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


def test_parameter_counts_by_hand():
    norms = 27 * 2 * H + H
    total = 20 * KDA + 7 * MLA + 3 * H * 9216 + 26 * MOE + norms + 2 * VOCAB * H
    g = _model(seq_len=8)
    assert g.params == g.meta["model_params"] == total == 49_122_681_728
    assert round((total - 2 * VOCAB * H) / 1e9) == 48  # "48B" without the embedding table and head
    active = total - (256 - 8) * EXPERT * 26
    assert g.meta["moe"]["active_params"] == active and 2.5e9 < active - 2 * VOCAB * H < 3.5e9  # "A3B"


def test_kda_and_mla_layers():
    g = _model(seq_len=300, layers=4)
    kda, mla = "model.layers.0.self_attn", "model.layers.3.self_attn"  # kda_layers are 1-based: layer 4 is MLA
    chunks = (64,) * 4 + (300 - 4 * 64,)  # 4 whole chunks of 64 and the last one's 44 tokens
    # per head and chunk of c: Akk and Aqk (c × c by 128 each), w and u (c × 128 by c each); the state pass
    # (2 · c · 128 · 128 a chunk, per head in turn); the output Q·S + Aqk·v_new (c × 128 by 128 + c)
    assert g[f"{kda}.chunk_intra"].macs == HEADS * sum(2 * c * c * D + c * c * 2 * D for c in chunks)
    assert g[f"{kda}.chunk_state"].macs == HEADS * 2 * 300 * D * D
    assert g[f"{kda}.chunk_o"].macs == HEADS * sum(c * D * (D + c) for c in chunks)
    assert g[f"{kda}.chunk_o"].gemm.count == HEADS * math.ceil(300 / 64)  # the mapper's view: 5 chunks of 64
    assert g[f"{kda}.gate"].weights[1].shape == (HD,)  # dt_bias per head and key channel
    names = {op.name for op in g.ops}
    assert f"{mla}.kv_a_proj_with_mqa" in names and not any("rope" in x for x in names)  # NoPE latent attention
    assert g.meta["state_cache_bytes"] == 3 * KDA_STATE
    assert g.meta["kv_cache_bytes"] == 3 * KDA_STATE + 300 * 576 * 2  # one MLA layer's latent cache


def test_a_prompt_shorter_than_a_chunk_runs_one_chunk_of_its_length():
    # L = 10 < 64: one chunk of 10 tokens; per head Akk and Aqk 10 × 10 by 128 each and w, u 10 × 128 by 10 each,
    # the state pass 2·10·128·128, the output 10 × 128 by 128 + 10
    g = _model(seq_len=10, layers=1)
    kda = "model.layers.0.self_attn"
    assert g[f"{kda}.chunk_intra"].macs == HEADS * (2 * 10 * 10 * D + 10 * 10 * 2 * D) == 1_638_400
    assert g[f"{kda}.chunk_state"].macs == HEADS * 2 * 10 * D * D == 10_485_760
    assert g[f"{kda}.chunk_o"].macs == HEADS * 10 * D * (D + 10) == 5_652_480


def test_a_decode_step_updates_the_fp32_state():
    g = _model(phase="decode", kv_len=5000, batch=2, layers=1)
    rec = g["model.layers.0.self_attn.recurrent"]
    assert rec.dtype == "fp32" and rec.flops == 7 * 2 * HEADS * D * D
    assert g.inputs["model.layers.0.self_attn.q_conv_state"] == (2, HD, 3)


def test_bad_layer_lists_are_refused_naming_the_field():
    w = load_workload("kimi_linear_48b")
    bad = {**w.params["linear_attn_config"], "kda_layers": [0, 1]}
    with pytest.raises(ValidationError, match=r"linear_attn_config\.kda_layers: expected 1-based layer numbers"):
        _model(linear_attn_config=bad)
    with pytest.raises(ValidationError, match="training is not modelled for KimiLinearForCausalLM"):
        _model(mode="training")


def test_the_two_layer_lists_must_name_every_layer_once():
    # kda_layers (20) and full_attn_layers (7: 4, 8, …, 24, 27) partition the 27 layers, 1-based
    w = load_workload("kimi_linear_48b")
    cfg = w.params["linear_attn_config"]
    every_full = {**cfg, "full_attn_layers": list(range(1, 28))}  # declared full, still listed as KDA: refused
    with pytest.raises(ValidationError, match=r"linear_attn_config\.full_attn_layers: layers \[1, 2, 3, 5, .*\] are "
                                              r"in kda_layers too"):
        _model(linear_attn_config=every_full)
    with pytest.raises(ValidationError, match=r"full_attn_layers: expected 1-based layer numbers up to 27 "
                                              r"\(got \[0, 4\]\)"):
        _model(linear_attn_config={**cfg, "full_attn_layers": [0, 4]})
    # a layer named twice (27 twice: probe p38 finding 6, it passed as the same set)
    with pytest.raises(ValidationError, match=r"full_attn_layers: layers \[27\] named more than once"):
        _model(linear_attn_config={**cfg, "full_attn_layers": [*cfg["full_attn_layers"], 27]})
    # kda_layers [1, 2, 3] beside the 7 full layers leaves 27 − 3 − 7 = 17 in neither list
    with pytest.raises(ValidationError, match=r"full_attn_layers: layers \[5, 6, 7, 9, .*, 26\] are in neither"):
        _model(linear_attn_config={**cfg, "kda_layers": [1, 2, 3]})
    # moving layer 1 from KDA to full attention is honoured: 19 KDA layers, 8 latent-attention ones
    moved = {**cfg, "kda_layers": [x for x in cfg["kda_layers"] if x != 1], "full_attn_layers": [1, *cfg["full_attn_layers"]]}
    g = _model(linear_attn_config=moved, seq_len=8)
    assert "model.layers.0.self_attn.kv_a_proj_with_mqa" in {op.name for op in g.ops}
    assert g.params == _model(seq_len=8).params - KDA + MLA


def test_a_one_tap_short_conv_is_refused_at_its_key():
    cfg = {**load_workload("kimi_linear_48b").params["linear_attn_config"], "short_conv_kernel_size": 1}
    with pytest.raises(ValidationError, match=r"linear_attn_config\.short_conv_kernel_size: expected an integer ≥ 2 "
                                              r"\(got 1\): the causal_conv1d kernels \(causal-conv1d's, vLLM's\) take widths from 2"):
        _model(seq_len=8, linear_attn_config=cfg)
