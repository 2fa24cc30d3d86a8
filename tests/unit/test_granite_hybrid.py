"""Granite 4.0-H (``hf``, GraniteMoeHybridForCausalLM): Mamba-2 and attention layers, each with a MoE and a shared MLP,
its parameter counts, and the multipliers' ops.

Every expected figure is worked out below from workloads/granite_4_h_tiny.yaml (the published config's sizes) and the
structure of transformers' modeling_granitemoehybrid (GraniteMoeHybridDecoderLayer, the Mamba-2 mixer,
GraniteMoeHybridMoE and the shared MLP). IBM: Granite 4.0-H-Tiny has 7 B parameters, 1 B active.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from accelsim.builders import build_workload
from accelsim.builders.hf import HfParams, identical_layers
from accelsim.config import load_workload
from accelsim.scenarios.sampling import layer_samples

H, VOCAB, LAYERS = 1536, 100352, 40
MH, P, N = 48, 64, 128  # Mamba heads, head dim, state; one group of B and C
INNER, CONV = MH * P, MH * P + 2 * N
MAMBA = H * (INNER + CONV + MH) + CONV * 4 + CONV + 3 * MH + INNER + INNER * H  # in_proj, conv, dt/A/D, norm, out
ATTN = H * 12 * 128 + 2 * H * 4 * 128 + 12 * 128 * H
EXPERT = 3 * H * 512
FFN = H * 64 + 64 * EXPERT + 3 * H * 1024  # router, 64 experts, the shared MLP


def _model(**params):
    w = load_workload("granite_4_h_tiny")
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


def test_parameter_counts_by_hand():
    total = 36 * MAMBA + 4 * ATTN + LAYERS * (FFN + 2 * H) + VOCAB * H + H  # tied embeddings
    g = _model(seq_len=8)
    assert g.params == g.meta["model_params"] == total == 6_939_037_248 and round(total / 1e9) == 7
    active = total - (64 - 6) * EXPERT * LAYERS
    assert g.meta["moe"]["active_params"] == active
    assert round((active - VOCAB * H) / 1e9) == 1  # "1 B active" without the embedding table


def test_layers_run_a_mamba_or_attention_mixer_then_the_experts_and_the_shared_mlp():
    g = _model(seq_len=64, layers=6)
    names = {op.name for op in g.ops}
    assert {"model.layers.0.mamba.chunk_scan", "model.layers.5.self_attn.scores",
            "model.layers.0.block_sparse_moe.router", "model.layers.5.block_sparse_moe.shared_mlp.down_proj"} <= names
    assert not any("rope" in n for n in names)  # position_embedding_type nope
    assert g["model.layers.0.mamba.in_proj"].out_shape == (1, 64, INNER + CONV + MH)
    # the multipliers: none in the preset (left out), one elementwise pass each when ≠ 1
    assert "model.embed_scale" not in names and "logits_scaling" not in names
    scaled = _model(seq_len=64, layers=1, embedding_multiplier=12.0, logits_scaling=6.0)
    assert scaled["model.embed_scale"].flops == 64 * H and scaled["logits_scaling"].flops == 64 * VOCAB


def test_without_experts_the_shared_mlp_is_the_feed_forward():
    g = _model(seq_len=16, layers=1, num_local_experts=0, position_embedding_type="rope")
    assert g["model.layers.0.shared_mlp.gate_proj"].weights[0].shape == (1024, H)
    assert not any("block_sparse_moe" in op.name for op in g.ops)
    assert "moe" not in g.meta


def test_mamba_and_attention_layers_are_not_alike():
    # a serving run simulates two layers and extrapolates when every layer is alike: not here (36 Mamba, 4 attention)
    w = load_workload("granite_4_h_tiny")
    # attention at layers 5, 15, 25 and 35 (layer_types), Mamba elsewhere: 4 units of 10 layers, sampled with the
    # first 10 and 20 (30 of 40 simulated); the 4 Mamba layers after the last attention one alone (36 distinct, then
    # 4 alike) would sample 37 and 38, more than the model
    assert identical_layers(HfParams(**w.params)) == (0, 40, 10)
    assert layer_samples((0, 40, 10)) == (10, 20) and layer_samples((36, 4, 1)) is None
    assert identical_layers(HfParams(**{**w.params, "layers": 5})) == (0, 5, 1)  # the first five are all Mamba


def test_mamba_groups_must_divide_the_heads():
    with pytest.raises(ValidationError, match=r"mamba_n_groups: 5 must divide mamba_n_heads \(48\)"):
        _model(mamba_n_groups=5, seq_len=8)


def test_mamba_heads_times_head_dim_must_be_expand_times_hidden():
    # GraniteMoeHybridConfig refuses heads × head_dim ≠ mamba_expand × hidden_size (2 × 1536 = 3072; 48 × 64 is)
    with pytest.raises(ValidationError, match=r"mamba_d_head: 64 × mamba_n_heads \(7\) must be mamba_expand × "
                                              r"hidden_size \(3072\)"):
        _model(mamba_n_heads=7, seq_len=8)
    with pytest.raises(ValidationError, match=r"mamba_d_head: 64 × mamba_n_heads \(48\) must be mamba_expand × "
                                              r"hidden_size \(4608\)"):
        _model(mamba_expand=3, seq_len=8)
    assert _model(mamba_n_heads=96, mamba_d_head=32, seq_len=8, layers=1).params > 0  # 96 × 32 = 3072 is a model


def test_info_says_the_tied_table_is_counted_once_as_the_head(capsys):
    # tied embeddings: the 100,352 × 1,536 table is the output head, which every token reads whole, so the count
    # without the input embedding is the same figure; the row says why instead of printing it twice
    from accelsim.cli import main

    assert main(["info", "granite_4_h_tiny"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "active params" in line)
    assert "without the input embedding table" not in row
    assert "the embedding table tied to the output head: counted once, as the head" in row
