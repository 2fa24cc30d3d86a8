"""Fields transformers' config classes declare and ``save_pretrained`` writes into every config.json (probe p167
#1-#4; before, each was refused as "unsupported field"): SmolLM3's ``no_rope_layer_interval`` beside
``no_rope_layers``, ``layer_types`` of Qwen2 / Qwen3 / Gemma 2, Gemma 2's ``use_bidirectional_attention``, LFM2's
``full_attn_idxs`` beside ``layer_types``; and ``accelsim info hf``'s header naming the model as --json does.

The classes read (huggingface/transformers, src/transformers/models/*/configuration_*.py): SmolLM3Config declares
``no_rope_layers`` and ``no_rope_layer_interval`` (4) and fills the list from the interval only when it is None;
Qwen2Config / Qwen3Config fill ``layer_types`` "sliding_attention" where ``sliding_window`` is set (it is nulled
without ``use_sliding_window``) and i ≥ ``max_window_layers``; Gemma2Config fills it "sliding_attention" where
(i + 1) is odd and declares ``use_bidirectional_attention`` (None); Lfm2Config builds ``layer_types`` from
``full_attn_idxs`` only when no list is given. Counts are worked out by hand from each model's module tree.
"""

from __future__ import annotations

from accelsim.builders import build_workload
from accelsim.builders.hfconfig import parse

from .hf_checks import refused


def _params(config: dict) -> int:
    return build_workload("hf", {"config": config, "dtype": "bf16", "seq_len": 8}).meta["model_params"]


# HuggingFaceTB/SmolLM3-3B's config.json (transformers 4.54), the fields that shape the model, both NoPE keys as it
# carries them, and the layer_types / max_window_layers save_pretrained writes
SMOLLM3 = {"architectures": ["SmolLM3ForCausalLM"], "hidden_size": 2048, "intermediate_size": 11008,
           "num_attention_heads": 16, "num_key_value_heads": 4, "num_hidden_layers": 36, "vocab_size": 128256,
           "tie_word_embeddings": True, "hidden_act": "silu", "rms_norm_eps": 1e-6, "rope_theta": 5000000.0,
           "no_rope_layer_interval": 4, "no_rope_layers": [0 if (i + 1) % 4 == 0 else 1 for i in range(36)],
           "layer_types": ["full_attention"] * 36, "max_window_layers": 28, "use_sliding_window": False,
           "sliding_window": None, "model_type": "smollm3", "transformers_version": "4.54.0"}


def test_smollm3_as_saved_with_both_nope_keys():
    h, ffn = 2048, 11008  # 16 heads and 4 KV heads of 128; two RMSNorms a layer, q, k, v, o, a SwiGLU MLP; tied
    layer = 2 * h + h * (16 + 2 * 4) * 128 + 16 * 128 * h + 3 * h * ffn
    assert _params(SMOLLM3) == 128256 * h + 36 * layer + h == 3_075_098_624  # the smollm3_3b preset's count
    assert parse(SMOLLM3).nope_layers == frozenset(range(3, 36, 4))


def test_smollm3_the_list_wins_over_the_interval():
    # SmolLM3Config(no_rope_layers=[...]) keeps its default interval 4 and save_pretrained writes both: the list is
    # the model, as in transformers (SmolLM3DecoderLayer reads config.no_rope_layers[layer_idx])
    custom = {**SMOLLM3, "no_rope_layers": [0] + [1] * 35}
    assert parse(custom).nope_layers == {0}
    refused({**SMOLLM3, "no_rope_layer_interval": 0}, "no_rope_layer_interval")  # still an integer ≥ 1
