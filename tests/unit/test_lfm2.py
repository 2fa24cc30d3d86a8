"""LFM2 (``hf``, Lfm2ForCausalLM): gated short convolutions beside GQA attention, the feed-forward width rule and the
parameter counts.

Counts worked out below from workloads/lfm2_1_2b.yaml (the published config) and transformers' modeling_lfm2
(Lfm2ShortConv: in_proj to B, C, x, a depthwise conv of 3 taps without bias, out_proj; Lfm2Attention with per-head
q_layernorm / k_layernorm and out_proj; Lfm2MLP w1 / w3 / w2 of int(2 · block_ff_dim / 3) rounded up to 256); Liquid
AI's cards: LFM2-1.2B 1,170,340,608 parameters, LFM2-2.6B 2,569,272,320.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from accelsim.builders import build_workload
from accelsim.config import load_workload


def _model(**params):
    w = load_workload("lfm2_1_2b")
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


def test_counts_are_the_cards():
    h, ff = 2048, 256 * -(-int(2 * 12288 / 3) // 256)  # 8192
    mlp = 3 * h * ff + 2 * h  # and the two norms
    conv = 3 * h * h + 3 * h + h * h + mlp
    attn = 2 * h * h + 2 * h * 8 * 64 + 2 * 64 + mlp
    assert _model(seq_len=8).meta["model_params"] == 65536 * h + 10 * conv + 6 * attn + h == 1_170_340_608
    w = load_workload("lfm2_1_2b")
    types = ["full_attention" if i in (2, 5, 9, 13, 17, 21, 24, 27) else "conv" for i in range(30)]
    fields = {k: v for k, v in w.params.items() if k != "full_attn_idxs"}
    big = build_workload("hf", {**fields, "num_hidden_layers": 30, "layer_types": types, "block_ff_dim": 10752,
                                "intermediate_size": 10752, "block_auto_adjust_ff_dim": False, "dtype": "bf16",
                                "seq_len": 8})
    assert big.meta["model_params"] == 2_569_272_320  # LFM2-2.6B: its 10,752 taken as is


def test_the_short_convolution_and_its_state():
    g = _model(phase="decode", kv_len=100, layers=3)  # layers 0, 1 convolutions, 2 attention
    conv = g["model.layers.0.conv.conv"]
    assert conv.fn == "causal_conv1d" and conv.inputs[0] == "model.layers.0.conv.Bx" and conv.flops == 2 * 3 * 2048
    assert g["model.layers.0.conv.Cy"].inputs == ("model.layers.0.conv.C", "model.layers.0.conv.conv")
    assert g.meta["state_cache_bytes"] == 2 * 2048 * 2 * 2  # two conv layers × channels × 2 taps kept × bf16
    assert "model.layers.2.self_attn.q_layernorm" in {op.name for op in g.ops}


def test_an_attention_index_past_the_layers_is_refused():
    # 16 layers: index 99 names no layer (it was dropped silently), as Kimi's kda_layers past the layers
    with pytest.raises(ValidationError, match=r"full_attn_idxs: expected layer indices below num_hidden_layers "
                                              r"\(16\) \(got \[2, 5, 99\]\)"):
        _model(full_attn_idxs=[2, 5, 99], seq_len=8)


def test_sequence_parallel_gathers_and_reduce_scatters_the_short_convolution():
    # tensor_parallel 2 with sequence_parallel over 64 tokens: the residual stream holds each chip's 32 tokens; every
    # block (the two short-conv mixers, the attention mixer, the three MLPs) all-gathers them before its column-split
    # linears and reduce-scatters its row-split output (Megatron's pattern): 6 reduce-scatters beside the embedding's
    # one, 6 all-gathers plus the final norm's one before the LM head (and the head's own logits gather)
    sp = _model(seq_len=64, layers=3, tensor_parallel=2, sequence_parallel=True)
    plain = _model(seq_len=64, layers=3, tensor_parallel=2)
    fns = [op.attrs.get("fn") for op in sp.ops]
    assert fns.count("reduce_scatter") == 1 + 6 and fns.count("all_gather") == 6 + 1 + 1
    assert "all_reduce" not in fns
    gather = sp["model.layers.0.conv.operator_norm_all_gather"]
    scatter = sp["model.layers.0.conv.out_proj_reduce_scatter"]
    assert gather.in_shapes == ((1, 32, 2048),) and gather.out_shape == (1, 64, 2048)
    assert scatter.in_shapes == ((1, 64, 2048),) and scatter.out_shape == (1, 32, 2048)
    assert scatter.in_bytes == 64 * 2048 * 2 and gather.out_bytes == 64 * 2048 * 2  # bf16, all 64 tokens
    assert sp["model.layers.0.conv.in_proj"].gemm.m == 64  # the mixer works on every token: 3 · 2048 / 2 channels
    assert sp["model.layers.0.conv.in_proj"].gemm.n == 3 * 2048 // 2
    assert sp["model.layers.0.add_attn"].out_shape == (1, 32, 2048)
    assert sp.meta["model_params"] == plain.meta["model_params"]
    assert sum(op.macs for op in sp.ops) == sum(op.macs for op in plain.ops)


@pytest.mark.parametrize("taps", [0, 1])
def test_a_conv_of_fewer_than_two_taps_is_refused_at_its_key(taps):
    # probe p276 #3: 1 tap passed the key (≥ 1) and failed inside the builder naming the conv_tail slice; the
    # causal_conv1d kernels LFM2's ShortConv runs on take widths 2 to 4 (hfspec.MIN_CONV_TAPS)
    with pytest.raises(ValidationError, match=rf"conv_L_cache: expected an integer ≥ 2 \(got {taps}\): the causal_conv1d kernels \(causal-conv1d's, vLLM's\) take widths from 2"):
        _model(seq_len=8, conv_L_cache=taps)


def test_two_taps_keep_one_input_a_channel():
    # the fewest taps the kernels take: a decode step's conv state keeps taps − 1 = 1 input of each of 2,048
    # channels in bf16, in each of the 10 conv layers: 10 · 2048 · 1 · 2 = 40,960 B (81,920 at the published 3)
    assert _model(phase="decode", kv_len=8, conv_L_cache=2).meta["state_cache_bytes"] == 10 * 2048 * 1 * 2 == 40_960
