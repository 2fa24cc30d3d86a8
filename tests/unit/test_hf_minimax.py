"""MiniMax-Text-01 (``hf``, MiniMaxForCausalLM): lightning attention beside GQA attention, the parameter count,
the block-wise lightning kernels, the recurrent state, and a simulated prefill and decode step.

Every expected figure is worked out below from workloads/minimax_text_01.yaml and the structure of transformers 5's
modeling_minimax.py (MiniMaxLightningAttention, MiniMaxAttention, MiniMaxSparseMoeBlock). The transformers counts
were taken from ``MiniMaxForCausalLM(MiniMaxConfig(**cfg)).num_parameters()`` built on the meta device (transformers
5.25). MiniMax: 456 B total, 45.9 B active per token.
"""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from accelsim.builders import build_workload
from accelsim.config import load_arch, load_workload
from accelsim.config.load import WorkloadSpec
from accelsim.ir import OpKind

H, F, VOCAB, HEADS, KV, D, E = 6144, 9216, 200064, 64, 8, 128, 32
HD = HEADS * D  # 8192
LIGHTNING = 3 * HD * H + HD * H + HD * H + HD  # qkv_proj, output_gate, out_proj, norm (over all heads)
FULL = H * HD + 2 * H * KV * D + HD * H  # q_proj, k_proj, v_proj, o_proj: no biases, no QK-norm
EXPERT = 3 * H * F  # gate_up_proj (2F × H) and down_proj (H × F)
MOE = H * E + E * EXPERT  # the router (no bias) and 32 experts: every layer
STATE = HEADS * D * D * 2  # a lightning layer's state per sequence: 64 heads of 128 × 128, bf16


def _model(**params):
    w = load_workload("minimax_text_01")
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


def test_parameter_counts_by_hand_equal_transformers():
    total = 70 * (LIGHTNING + MOE + 2 * H) + 10 * (FULL + MOE + 2 * H) + H + 2 * VOCAB * H
    g = _model(seq_len=8)
    # transformers' MiniMaxForCausalLM on this config (layer_types: 7 linear then 1 full, ten times): 456,089,655,296
    assert g.params == g.meta["model_params"] == total == 456_089_655_296
    active = total - (E - 2) * EXPERT * 80
    assert g.meta["moe"]["active_params"] == active == 48_403_306_496
    assert round(total / 1e9) == 456 and round((active - 2 * VOCAB * H) / 1e8) == 459  # 45.9 B without the tables


def test_the_reader_takes_transformers_defaults_and_the_checkpoint_layer_list():
    g = build_workload("hf", {"architectures": ["MiniMaxForCausalLM"], "seq_len": 8, "dtype": "bf16"})
    assert g.params == 47_373_946_880  # MiniMaxConfig(): Mixtral-like sizes, full attention on even layers
    small = {"architectures": ["MiniMaxForCausalLM"], "vocab_size": 1000, "hidden_size": 256,
             "intermediate_size": 384, "num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 2,
             "head_dim": 32, "num_local_experts": 4, "num_experts_per_tok": 2, "seq_len": 8, "dtype": "bf16"}
    g = build_workload("hf", small)
    assert g.params == 6_220_544 and g.meta["moe"]["active_params"] == 3_861_248  # transformers: 6,220,544
    names = {op.name for op in g.ops}
    assert "model.layers.0.self_attn.q_proj" in names and "model.layers.1.self_attn.qkv_proj" in names
    # the checkpoint's attn_type_list (0 linear, 1 full) reads as layer_types
    g = build_workload("hf", {**small, "attn_type_list": [0, 0, 0, 1]})
    assert {op.name for op in g.ops} >= {"model.layers.0.self_attn.qkv_proj", "model.layers.3.self_attn.q_proj"}


def test_a_prompt_runs_lightning_attention_in_blocks_on_seven_layers_of_eight():
    g = _model(seq_len=600, layers=8)
    n = math.ceil(600 / 256)  # 3 blocks of 256: 2 whole ones and the last of 600 - 512 = 88 tokens
    blocks = (256, 256, 88)
    lin, attn = "model.layers.0.self_attn", "model.layers.7.self_attn"
    assert g[f"{lin}.qkv_proj"].out_shape == (1, 600, 3 * HD)
    # per head and block: QKᵀ (256 × 256 by 128); the state pass walks the blocks (128 × 128 by 256 each); the
    # output (Q·decay)·S + (QKᵀ ⊙ decay)·V (256 × 128 by 128 + 256); the last block its own 88 tokens
    assert g[f"{lin}.block_qk"].macs == HEADS * sum(c * c for c in blocks) * D
    assert g[f"{lin}.block_state"].macs == HEADS * 600 * D * D and g[f"{lin}.block_state"].gemm.count == HEADS
    assert g[f"{lin}.block_o"].macs == HEADS * sum(c * D * (D + c) for c in blocks)
    assert g[f"{lin}.block_o"].gemm.count == HEADS * n  # the mapper's view: 3 blocks of 256
    assert g[f"{lin}.state_write"].dtype == "bf16" and g[f"{lin}.state_write"].out_shape == (1, HEADS, D, D)
    assert g[f"{lin}.norm"].weights[0].shape == (HD,)
    assert g[f"{attn}.k_proj"].out_shape == (1, 600, KV * D)
    assert g[f"{attn}.q_rope.rotary"].out_shape == (1, HEADS, 600, 64)  # rotary_dim 64 of 128
    assert not any(op.name.startswith(f"{attn}.qkv_proj") for op in g.ops)
    assert g.meta["state_cache_bytes"] == 7 * STATE
    assert g.meta["kv_cache_bytes"] == 7 * STATE + 2 * KV * 600 * D * 2  # one full layer's K and V


def test_a_prompt_shorter_than_a_block_runs_one_block_of_its_length():
    # L = 1 < block_size 256: one block of 1 token (was a whole 256-token block: 112 G MACs of block attention
    # over the 70 lightning layers); per head QKᵀ 1 × 1 by 128, the state 128 × 128 by 1, the output 1 × 128 by 129
    g = _model(seq_len=1, layers=1)
    lin = "model.layers.0.self_attn"
    assert g[f"{lin}.block_qk"].macs == HEADS * D == 8_192
    assert g[f"{lin}.block_state"].macs == HEADS * D * D == 1_048_576
    assert g[f"{lin}.block_o"].macs == HEADS * D * (D + 1) == 1_056_768


def test_a_decode_step_updates_the_state_by_hand():
    g = _model(phase="decode", kv_len=4096, batch=2, layers=8, tensor_parallel=8)
    lin = "model.layers.0.self_attn"
    assert g.inputs[f"{lin}.recurrent_state"] == (2, HEADS // 8, D, D)
    rec = g[f"{lin}.recurrent"]
    # S ← λ·S + kᵀv, o = q·S: 5 FLOPs per state element (no delta rule), in the model's dtype
    assert rec.kind is OpKind.ELEMENTWISE and rec.dtype == "bf16" and rec.flops == 5 * 2 * (HEADS // 8) * D * D
    # per sequence and chip: 7 lightning layers × 8 heads × 128 × 128 × 2 bytes = 1,835,008 bytes, at any length
    per_seq = 7 * (HEADS // 8) * D * D * 2
    assert per_seq == 1_835_008 and g.meta["state_cache_bytes"] == 2 * per_seq
    assert _model(phase="decode", kv_len=90000, batch=2, layers=8, tensor_parallel=8
                  ).meta["state_cache_bytes"] == 2 * per_seq
    assert g.meta["kv_cache_bytes"] == 2 * per_seq + 2 * 2 * 4097 * D * 2  # one KV head a chip, K and V


def test_a_serving_replica_reserves_the_lightning_states():
    from accelsim.config.serving import EngineConfig
    from accelsim.serving.cost import footprint

    w = load_workload("minimax_text_01")
    spec = WorkloadSpec(model=w.model, params={**w.params, "tensor_parallel": 8, "attention": "fused"})
    fp = footprint(spec, load_arch("dgx-h200"), EngineConfig(max_num_seqs=32, max_model_len=4096, block_size=64))
    assert fp.state_bytes_per_seq == 70 * STATE // 8 == 18_350_080
    assert fp.kv_bytes_per_token == 10 * 2 * 1 * D * 2  # 10 full layers, K and V, one head of 128 a chip


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_a_truncated_model_simulates_on_dgx_h200_with_tensor_parallel_8(phase):
    from accelsim.scenarios import run_workload

    w = load_workload("minimax_text_01")
    spec = WorkloadSpec(model=w.model, params={**w.params, "layers": 8, "tensor_parallel": 8, "phase": phase,
                                               "seq_len": 1024, "kv_len": 4096, "batch": 2})
    report = run_workload(spec, load_arch("dgx-h200")).to_dict()
    assert report["seconds"] > 0 and report["flops"] > 0


def test_training_is_refused_and_bad_layer_lists_name_the_field():
    with pytest.raises(ValidationError, match="training is not modelled for MiniMaxForCausalLM"):
        _model(mode="training")
    with pytest.raises(ValidationError, match="layer_types: expected 80 entries"):
        _model(layer_types=["linear_attention"] * 79)
    with pytest.raises(ValidationError, match="must divide num_attention_heads"):
        _model(num_key_value_heads=7)
