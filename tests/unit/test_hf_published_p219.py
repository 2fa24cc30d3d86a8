"""Published config.json files of models docs/configuration.md names as supported that the ``hf`` reader refused for
fields transformers does not read and whose values are what is built (probe p219 #1): state-spaces/mamba-2.8b-hf
(mamba_ssm's ``fused_add_norm``, ``n_layer``, ``pad_vocab_size_multiple``, ``rms_norm``), Mamba-Codestral-7B
(``intermediate_size`` = expand × hidden), Phi-4-mini-instruct (remote code's ``full_attn_mod``,
``interpolate_factor``, ``lm_head_bias``, ``mlp_bias``) and Command R7B as first released (the original Cohere2
keys). Each imports with the hand count of its parameters; a value that would describe another model is refused
naming its key."""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload

from .hf_checks import refused

# state-spaces/mamba-2.8b-hf config.json (its published fields; the dt initialisation ones trimmed)
MAMBA_28B = {"architectures": ["MambaForCausalLM"], "conv_kernel": 4, "expand": 2, "fused_add_norm": True,
             "hidden_act": "silu", "hidden_size": 2560, "intermediate_size": 5120, "layer_norm_epsilon": 1e-05,
             "model_type": "mamba", "n_layer": 64, "num_hidden_layers": 64, "pad_vocab_size_multiple": 8,
             "residual_in_fp32": True, "rms_norm": True, "state_size": 16, "time_step_rank": 160,
             "use_bias": False, "use_conv_bias": True, "vocab_size": 50280}
# h = 2560, inner d = 5120, state N = 16, dt rank R = 160, conv K = 4; per layer: in_proj h × 2d (x and z)
# 26,214,400; conv1d d × K + bias d = 25,600; x_proj d × (R + 2N) = 983,040; dt_proj R × d + bias d = 824,320;
# A_log d × N = 81,920; D d = 5,120; out_proj d × h = 13,107,200; RMSNorm h = 2,560 -> 41,244,160; × 64 layers
# + the tied table 50280 × 2560 = 128,716,800 + the final norm 2,560 = 2,768,345,600 (the card's 2.8 B)
MAMBA_28B_PARAMS = 64 * (2560 * 2 * 5120 + 5120 * 4 + 5120 + 5120 * (160 + 2 * 16) + 160 * 5120 + 5120
                         + 5120 * 16 + 5120 + 5120 * 2560 + 2560) + 50280 * 2560 + 2560

# mistralai/Mamba-Codestral-7B-v0.1 config.json (dt initialisation fields trimmed)
CODESTRAL = {"_name_or_path": "/raid/pablo/codestral-hf-good/", "architectures": ["Mamba2ForCausalLM"],
             "chunk_size": 256, "conv_kernel": 4, "expand": 2, "head_dim": 64, "hidden_act": "silu",
             "hidden_size": 4096, "intermediate_size": 8192, "layer_norm_epsilon": 1e-05, "model_type": "mamba2",
             "n_groups": 8, "norm_before_gate": True, "num_heads": 128, "num_hidden_layers": 64, "rms_norm": True,
             "state_size": 128, "tie_word_embeddings": False, "time_step_rank": 256, "use_bias": False,
             "use_conv_bias": True, "vocab_size": 32768}
# h = 4096, d = expand × h = 8192, G = 8 groups, N = 128, H = 128 heads; per layer: in_proj h × (2d + 2GN + H)
# = 4096 × 18,560 = 76,021,760; conv over x, B, C: (d + 2GN) = 10,240 channels × (K 4 + bias) = 51,200;
# dt_bias, A_log, D 3 × 128 = 384; the gated RMSNorm d = 8,192; out_proj d × h = 33,554,432; the layer's RMSNorm
# h = 4,096 -> 109,640,064; × 64 = 7,016,964,096 + untied table and head 2 × 32768 × 4096 = 268,435,456 + the final
# norm 4,096 = 7,285,403,648 (the card's 7.3 B)
CODESTRAL_PARAMS = 64 * (4096 * (2 * 8192 + 2 * 8 * 128 + 128) + (8192 + 2 * 8 * 128) * 5 + 3 * 128 + 8192
                         + 8192 * 4096 + 4096) + 2 * 32768 * 4096 + 4096

# microsoft/Phi-4-mini-instruct config.json (the rope factors trimmed to one each)
PHI4_MINI = {"_name_or_path": "Phi-4-mini-instruct", "architectures": ["Phi3ForCausalLM"], "attention_bias": False,
             "full_attn_mod": 1, "hidden_act": "silu", "hidden_size": 3072, "intermediate_size": 8192,
             "interpolate_factor": 1, "lm_head_bias": False, "max_position_embeddings": 131072, "mlp_bias": False,
             "model_type": "phi3", "num_attention_heads": 24, "num_hidden_layers": 32, "num_key_value_heads": 8,
             "original_max_position_embeddings": 4096, "partial_rotary_factor": 0.75, "rms_norm_eps": 1e-05,
             "rope_scaling": {"long_factor": [1.0], "short_factor": [1.0], "type": "longrope"},
             "sliding_window": 262144, "tie_word_embeddings": True, "vocab_size": 200064}
# h = 3072, head 128: 24 q heads and 8 KV heads; per layer qkv_proj h × (24 + 2 × 8) × 128 = 15,728,640, o_proj
# 3072 × 3072 = 9,437,184, gate_up_proj h × 2 × 8192 = 50,331,648, down_proj 8192 × h = 25,165,824, two RMSNorms
# 6,144 -> 100,669,440; × 32 = 3,221,422,080 + the tied table 200064 × 3072 = 614,596,608 + the final norm 3,072
# = 3,836,021,760 (the card's 3.8 B)
PHI4_MINI_PARAMS = 32 * (3072 * 40 * 128 + 3072 * 3072 + 3072 * 2 * 8192 + 8192 * 3072 + 2 * 3072) \
    + 200064 * 3072 + 3072

# CohereForAI/c4ai-command-r7b-12-2024 config.json as first released (with the original Cohere2 keys)
COMMAND_R7B = {"architectures": ["Cohere2ForCausalLM"], "attention_bias": False, "head_dim": 128,
               "hidden_act": "silu", "hidden_size": 4096, "intermediate_size": 14336, "layer_norm_eps": 1e-05,
               "layer_switch": 4, "logit_scale": 0.25, "max_position_embeddings": 8192, "model_type": "cohere2",
               "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
               "order_of_interleaved_layers": "local_attn_first", "position_embedding_type": "rope_gptj",
               "rope_scaling": None, "rope_theta": 50000, "rotary_pct": 1.0, "sliding_window": 4096,
               "sliding_window_pattern": 4, "use_embedding_sharing": True, "use_gated_activation": True,
               "use_parallel_block": True, "use_parallel_embedding": True, "vocab_size": 256000}
# h = 4096, 32 heads and 8 KV heads of 128; per layer q and o 4096 × 4096 = 16,777,216 each, k and v 4096 × 1024
# = 4,194,304 each, the SwiGLU MLP 3 × 4096 × 14336 = 176,160,768, one LayerNorm without bias 4,096 -> 218,107,904;
# × 32 = 6,979,452,928 + the tied table 256000 × 4096 = 1,048,576,000 + the final norm 4,096 = 8,028,033,024
COMMAND_R7B_PARAMS = 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 4096) + 256000 * 4096 + 4096


def _params(config: dict) -> int:
    return build_workload("hf", {"config": config, "seq_len": 4}).meta["model_params"]


def _without(config: dict, *keys: str) -> dict:
    return {k: v for k, v in config.items() if k not in keys}


def test_the_hand_sums():
    assert (MAMBA_28B_PARAMS, CODESTRAL_PARAMS, PHI4_MINI_PARAMS, COMMAND_R7B_PARAMS) == (
        2_768_345_600, 7_285_403_648, 3_836_021_760, 8_028_033_024)


@pytest.mark.parametrize(("config", "expected", "fields"), [
    (MAMBA_28B, MAMBA_28B_PARAMS, ("fused_add_norm", "n_layer", "pad_vocab_size_multiple", "rms_norm")),
    (CODESTRAL, CODESTRAL_PARAMS, ("intermediate_size",)),
    (PHI4_MINI, PHI4_MINI_PARAMS, ("full_attn_mod", "interpolate_factor", "lm_head_bias", "mlp_bias")),
    (COMMAND_R7B, COMMAND_R7B_PARAMS, ("layer_switch", "order_of_interleaved_layers", "position_embedding_type",
                                       "rotary_pct", "use_embedding_sharing", "use_gated_activation",
                                       "use_parallel_block", "use_parallel_embedding")),
], ids=["mamba-2.8b-hf", "Mamba-Codestral-7B", "Phi-4-mini", "Command-R7B"])
def test_published_configs_import_with_the_hand_counts(config, expected, fields):
    # refused before (exit 2, "unsupported field"); accepted now, the same model as without the fields
    assert _params(config) == expected
    assert _params(_without(config, *fields)) == expected


def test_either_fused_add_norm_or_parallel_embedding_builds_the_same_model():
    # a kernel fusion (mamba_ssm's fused residual add + RMSNorm) and how the one embedding table is sharded
    assert _params({**MAMBA_28B, "fused_add_norm": False}) == MAMBA_28B_PARAMS
    assert _params({**COMMAND_R7B, "use_parallel_embedding": False}) == COMMAND_R7B_PARAMS
    refused({**MAMBA_28B, "fused_add_norm": "yes"}, "fused_add_norm")


@pytest.mark.parametrize(("config", "field", "value"), [
    (MAMBA_28B, "rms_norm", False),  # mamba_ssm's LayerNorm: transformers builds RMSNorms
    (MAMBA_28B, "n_layer", 48),  # disagrees with num_hidden_layers 64
    (MAMBA_28B, "pad_vocab_size_multiple", 16),  # 50280 = 8 × 6285 is no multiple of 16: mamba_ssm pads to 50288
    (CODESTRAL, "intermediate_size", 16384),  # Mamba2Mixer's width is expand × hidden = 8192
    (PHI4_MINI, "lm_head_bias", True),
    (PHI4_MINI, "mlp_bias", True),
    (PHI4_MINI, "full_attn_mod", 2),
    (PHI4_MINI, "interpolate_factor", 4),
    (COMMAND_R7B, "rotary_pct", 0.5),
    (COMMAND_R7B, "use_parallel_block", False),
    (COMMAND_R7B, "use_gated_activation", False),
    (COMMAND_R7B, "use_embedding_sharing", False),  # disagrees with tie_word_embeddings (true by default)
    (COMMAND_R7B, "layer_switch", 2),  # disagrees with sliding_window_pattern 4
    (COMMAND_R7B, "order_of_interleaved_layers", "global_attn_first"),
    (COMMAND_R7B, "position_embedding_type", "learned"),
])
def test_values_that_describe_another_model_are_refused_naming_the_key(config, field, value):
    refused({**config, field: value}, field)


def test_n_layer_is_checked_against_the_layers_built():
    # without num_hidden_layers transformers builds MambaConfig's 32 layers, not mamba_ssm's n_layer 64
    refused(_without(MAMBA_28B, "num_hidden_layers"), "n_layer")
    assert _params({**MAMBA_28B, "num_hidden_layers": 48, "n_layer": 48}) == MAMBA_28B_PARAMS - 16 * (
        MAMBA_28B_PARAMS - 50280 * 2560 - 2560) // 64
