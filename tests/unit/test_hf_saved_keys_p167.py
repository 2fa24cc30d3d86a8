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

import json

import pytest

from accelsim.builders import build_workload
from accelsim.builders.hfconfig import parse
from accelsim.cli import main
from accelsim.config import load_workload

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


# Qwen/Qwen3-32B's sizes as transformers 5 saves the config (dtype, rope_parameters, the filled layer_types)
QWEN3_32B = {"architectures": ["Qwen3ForCausalLM"], "hidden_size": 5120, "intermediate_size": 25600,
             "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 128, "num_hidden_layers": 64,
             "vocab_size": 151936, "tie_word_embeddings": False, "attention_bias": False, "rms_norm_eps": 1e-6,
             "max_window_layers": 64, "use_sliding_window": False, "sliding_window": None,
             "layer_types": ["full_attention"] * 64, "dtype": "bfloat16",
             "rope_parameters": {"rope_theta": 1000000, "rope_type": "default"}, "transformers_version": "5.0.0"}


def test_qwen3_32b_as_transformers_5_saves_it():
    h, ffn = 5120, 25600  # q 64 heads, k and v 8 of 128, o; per-head q_norm / k_norm (128 each); untied head
    layer = 2 * h + h * (64 + 2 * 8) * 128 + 64 * 128 * h + 2 * 128 + 3 * h * ffn
    assert _params(QWEN3_32B) == 2 * 151936 * h + 64 * layer + h == 32_762_123_264  # Qwen's 32.8B
    assert parse(QWEN3_32B).windows == (0,) * 64


QWEN2 = {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
         "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 4, "vocab_size": 1000,
         "sliding_window": 1024, "max_window_layers": 2}


def test_qwen2_layer_types_place_the_windows():
    # transformers' Qwen2Attention: sliding_window on the layers layer_types calls sliding, whatever
    # max_window_layers says; the list from use_sliding_window and max_window_layers 2 is the same model
    on = {**QWEN2, "use_sliding_window": True}
    assert parse(on).windows == (0, 0, 1024, 1024)
    listed = ["full_attention", "full_attention", "sliding_attention", "sliding_attention"]
    assert parse({**on, "layer_types": listed}).windows == (0, 0, 1024, 1024)
    odd = ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]
    assert parse({**on, "layer_types": odd}).windows == (1024, 0, 1024, 0)
    # without use_sliding_window Qwen2Config nulls sliding_window: a "sliding" layer attends to every token
    assert parse({**QWEN2, "layer_types": odd}).windows == (0, 0, 0, 0)
    refused({**QWEN2, "layer_types": ["full_attention"] * 3}, "layer_types")  # 3 entries for 4 layers
    # Qwen2MoeConfig declares and fills layer_types too (Qwen2-MoE reads the windows as Qwen2)
    moe = {**on, "architectures": ["Qwen2MoeForCausalLM"], "num_experts": 4, "num_experts_per_tok": 2,
           "moe_intermediate_size": 128, "shared_expert_intermediate_size": 256, "layer_types": odd}
    assert parse(moe).windows == (1024, 0, 1024, 0)


def test_qwen3_moe_has_no_layer_types():
    # Qwen3MoeConfig declares no layer_types (its every layer takes the window): still an unknown field
    moe = {"architectures": ["Qwen3MoeForCausalLM"], "hidden_size": 256, "num_hidden_layers": 2, "vocab_size": 1000,
           "num_attention_heads": 4, "num_key_value_heads": 2, "num_experts": 4, "num_experts_per_tok": 2}
    assert "unsupported field" in refused({**moe, "layer_types": ["full_attention"] * 2}, "layer_types")


# google/gemma-2-9b's published config.json (transformers 4.42), the fields that shape the model, plus what
# transformers 5 writes: the filled layer_types and use_bidirectional_attention null
GEMMA2_9B = {"architectures": ["Gemma2ForCausalLM"], "hidden_size": 3584, "intermediate_size": 14336,
             "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256, "num_hidden_layers": 42,
             "vocab_size": 256000, "hidden_activation": "gelu_pytorch_tanh", "hidden_act": "gelu_pytorch_tanh",
             "sliding_window": 4096, "sliding_window_size": 4096, "attn_logit_softcapping": 50.0,
             "final_logit_softcapping": 30.0, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-6,
             "layer_types": ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(42)],
             "use_bidirectional_attention": None}


def test_gemma2_9b_with_the_keys_transformers_5_writes():
    h, ffn = 3584, 14336  # four sandwich RMSNorms, q 16 heads, k and v 8 of 256, o 16 x 256 -> h, GeGLU; tied
    layer = 4 * h + h * (16 + 2 * 8) * 256 + 16 * 256 * h + 3 * h * ffn
    assert _params(GEMMA2_9B) == 256000 * h + 42 * layer + h == 9_241_705_984  # the gemma2_9b preset's count
    assert parse(GEMMA2_9B).windows == (4096, 0) * 21  # even layers local, as the builder's own rule
    full = parse({**GEMMA2_9B, "layer_types": ["full_attention"] * 42})
    assert full.windows == (0,) * 42  # honoured per layer, as Gemma2Attention reads it
    assert parse({**GEMMA2_9B, "use_bidirectional_attention": False}).windows == (4096, 0) * 21
    refused({**GEMMA2_9B, "use_bidirectional_attention": True}, "use_bidirectional_attention")


def test_lfm2_with_both_full_attn_idxs_and_layer_types():
    w = load_workload("lfm2_1_2b")  # full_attn_idxs [2, 5, 8, 10, 12, 14] of 16 layers
    idxs = w.params["full_attn_idxs"]
    types = ["full_attention" if i in idxs else "conv" for i in range(16)]
    both = build_workload("hf", {**w.params, "layer_types": types, "dtype": "bf16", "seq_len": 8})
    assert both.meta["model_params"] == 1_170_340_608  # LFM2-1.2B's card (tests/unit/test_lfm2.py works it out)
    moved = ["full_attention" if i in (*idxs[:-1], 15) else "conv" for i in range(16)]
    with pytest.raises(ValueError, match=r"full_attn_idxs: \[2, 5, 8, 10, 12, 14\] differs from the attention "
                                         r"layers of layer_types \(\[2, 5, 8, 10, 12, 15\]"):
        build_workload("hf", {**w.params, "layer_types": moved, "dtype": "bf16", "seq_len": 8})


@pytest.mark.parametrize(("folder", "fields", "name"), [
    ("phi2", {"_name_or_path": "microsoft/phi-2"}, "phi-2"),  # the last part of _name_or_path
    ("tiny", {}, "tiny"),  # else the config.json's folder
])
def test_info_header_names_the_model_as_json_does(tmp_path, capsys, folder, fields, name):
    config = tmp_path / folder / "config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({**QWEN2, **fields}))
    argv = ["info", "hf", "--set", f"workload.config={config}"]
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == name
    assert main(argv) == 0
    assert capsys.readouterr().out.lstrip().startswith(f"{name} (Qwen2ForCausalLM; batch 1;")
