"""The ``hf`` readers against published configs: class defaults of fields a config leaves out, fields the
published files carry, and values that describe no model (refused as one line naming the key)."""

from __future__ import annotations

import pytest
import yaml

from accelsim.builders import build_workload
from accelsim.config import load_experiment, load_workload
from accelsim.errors import ConfigError

from .hf_checks import refused

# mistralai/Mixtral-8x7B-v0.1 config.json (https://huggingface.co/mistralai/Mixtral-8x7B-v0.1/blob/main/config.json),
# the fields that shape the model
MIXTRAL = {"architectures": ["MixtralForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
           "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 32, "vocab_size": 32000,
           "num_local_experts": 8, "num_experts_per_tok": 2, "rms_norm_eps": 1e-5, "sliding_window": None,
           "tie_word_embeddings": False}
# untied embeddings and head 2·V·h; per layer q and o 32 heads of 128, k and v 8 heads of 128, 8 experts of three
# h × 14336 projections, a router h × 8, two RMSNorms; the final norm: 46,702,792,704 (transformers'
# num_parameters(), the workloads/mixtral_8x7b.yaml preset's figure)
MIXTRAL_PARAMS = 2 * 32000 * 4096 + 32 * (4096 * 48 * 128 + 4096 * 4096 + 8 * 3 * 4096 * 14336 + 4096 * 8
                                          + 2 * 4096) + 4096

# Qwen/Qwen3-30B-A3B config.json (https://huggingface.co/Qwen/Qwen3-30B-A3B/blob/main/config.json)
QWEN3_30B = {"architectures": ["Qwen3MoeForCausalLM"], "hidden_size": 2048, "intermediate_size": 6144,
             "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128, "num_hidden_layers": 48,
             "vocab_size": 151936, "num_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 768,
             "decoder_sparse_step": 1, "mlp_only_layers": [], "norm_topk_prob": True, "rms_norm_eps": 1e-6,
             "tie_word_embeddings": False, "use_sliding_window": False, "sliding_window": None,
             "max_window_layers": 48}
# untied 2·V·h; per layer q 32 heads of 128, k and v 4 heads, o, q_norm and k_norm (128 each), 128 experts of three
# h × 768 projections, a router h × 128, two RMSNorms; the final norm: 30,532,122,624 (the model card's 30.5 B)
QWEN3_30B_PARAMS = 2 * 151936 * 2048 + 48 * (2048 * 40 * 128 + 32 * 128 * 2048 + 2 * 128 + 128 * 3 * 2048 * 768
                                             + 2048 * 128 + 2 * 2048) + 2048

# tiiuae/falcon-7b config.json as published (https://huggingface.co/tiiuae/falcon-7b/blob/main/config.json; its
# auto_map to the RW code left out)
FALCON_7B = {"alibi": False, "apply_residual_connection_post_layernorm": False, "architectures": ["FalconForCausalLM"],
             "attention_dropout": 0.0, "bias": False, "bos_token_id": 11, "eos_token_id": 11, "hidden_dropout": 0.0,
             "hidden_size": 4544, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "falcon",
             "multi_query": True, "new_decoder_architecture": False, "num_attention_heads": 71,
             "num_hidden_layers": 32, "parallel_attn": True, "torch_dtype": "bfloat16",
             "transformers_version": "4.27.4", "use_cache": True, "vocab_size": 65024}


def _params(config, **params):
    return build_workload("hf", {"config": config, "seq_len": 4, **params}).meta["model_params"]


def test_published_configs_count_their_parameters():
    assert MIXTRAL_PARAMS == 46_702_792_704 and QWEN3_30B_PARAMS == 30_532_122_624
    assert _params(MIXTRAL) == MIXTRAL_PARAMS
    assert _params(QWEN3_30B) == QWEN3_30B_PARAMS


def test_an_absent_num_key_value_heads_is_the_class_default():
    # MixtralConfig's num_key_value_heads defaults to 8, Qwen3MoeConfig's to 4 (transformers'
    # configuration_mixtral.py, configuration_qwen3_moe.py): the published models again
    assert _params({k: v for k, v in MIXTRAL.items() if k != "num_key_value_heads"}) == MIXTRAL_PARAMS
    assert _params({k: v for k, v in QWEN3_30B.items() if k != "num_key_value_heads"}) == QWEN3_30B_PARAMS
    # an explicit null is num_attention_heads (each class's `if num_key_value_heads is None`): Mixtral's k and v
    # grow from 8 to 32 heads of 128, 2·4096·24·128 more per layer
    assert _params({**MIXTRAL, "num_key_value_heads": None}) == MIXTRAL_PARAMS + 32 * 2 * 4096 * 24 * 128
    # MistralConfig: 8 KV heads of 32 (Mistral-7B's), LlamaConfig: None, i.e. the heads
    small = {"hidden_size": 1024, "intermediate_size": 2048, "num_attention_heads": 32, "num_hidden_layers": 1,
             "vocab_size": 1000}
    mistral = build_workload("hf", {"config": {**small, "architectures": ["MistralForCausalLM"]}, "seq_len": 4})
    llama = build_workload("hf", {"config": {**small, "architectures": ["LlamaForCausalLM"]}, "seq_len": 4})
    assert mistral["model.layers.0.self_attn.k_proj"].out_shape[-1] == 8 * 32  # 8 heads of 1024 / 32
    assert llama["model.layers.0.self_attn.k_proj"].out_shape[-1] == 32 * 32


def test_mistral_without_sliding_window_takes_the_class_default():
    # MistralConfig's sliding_window defaults to 4096: a decode step at 6000 cached tokens reads 4096 keys
    cfg = {"architectures": ["MistralForCausalLM"], "hidden_size": 1024, "intermediate_size": 2048,
           "num_attention_heads": 8, "num_hidden_layers": 1, "vocab_size": 1000}
    g = build_workload("hf", {"config": cfg, "phase": "decode", "kv_len": 6000})
    assert g["model.layers.0.self_attn.scores"].attrs["kv_len"] == 4096
    g = build_workload("hf", {"config": {**cfg, "sliding_window": None}, "phase": "decode", "kv_len": 6000})
    assert g["model.layers.0.self_attn.scores"].attrs["kv_len"] == 6001


def test_falcon_7b_published_config():
    # h = 4544, 71 query heads of 64 and one KV head, a 4h GELU MLP, tied head, LayerNorms with bias (2h each):
    # 65024·h + 32·(2h + h·(h + 128) + h² + 8h²) + 2h = 6,921,720,704 (TII's "7B")
    h = 4544
    assert _params(FALCON_7B) == 65024 * h + 32 * (2 * h + h * (h + 128) + h * h + 8 * h * h) + 2 * h
    msg = refused({**FALCON_7B, "apply_residual_connection_post_layernorm": True},
                   "apply_residual_connection_post_layernorm")
    assert "FalconDecoderLayer" in msg


def test_attn_implementation_autoset_is_ignored():
    # saved by transformers 4.4x's save_pretrained beside _attn_implementation (e.g. mistral-nemo re-uploads)
    assert _params({**MIXTRAL, "_attn_implementation_autoset": True}) == MIXTRAL_PARAMS


@pytest.mark.parametrize("config, field, k", [
    (MIXTRAL, "num_experts_per_tok", 9),  # 8 experts
    (QWEN3_30B, "num_experts_per_tok", 129),  # 128 experts
    ({"architectures": ["KimiLinearForCausalLM"], "linear_attn_config": {"kda_layers": [1]},
      "num_hidden_layers": 2, "num_experts": 4}, "num_experts_per_token", 5),
    ({"architectures": ["Ernie4_5_MoeForCausalLM"], "moe_num_experts": 4}, "moe_k", 5),
])
def test_more_experts_per_token_than_experts_is_refused(config, field, k):
    msg = refused({**config, field: k}, field)
    assert f"{k} experts per token exceed" in msg
    refused({**config, field: 0}, field)


def test_layer_indices_past_the_last_layer_are_refused():
    assert "[99]" in refused({**QWEN3_30B, "mlp_only_layers": [0, 99]}, "mlp_only_layers")
    scout = {"architectures": ["Llama4ForCausalLM"], "num_hidden_layers": 48, "moe_layers": [0, 50]}
    assert "[50]" in refused(scout, "moe_layers")


def test_routing_params_of_another_routing_are_refused():
    # each names the routing that reads it and the one in force (balanced by default)
    assert "read only with moe_routing 'counts' (it is 'balanced')" in refused(MIXTRAL, "expert_counts",
                                                                                expert_counts=[1] * 8)
    assert "read only with moe_routing 'skewed' (it is 'balanced')" in refused(MIXTRAL, "moe_skew", moe_skew=2.0)
    assert "read only with moe_routing 'skewed' (it is 'counts')" in refused(
        MIXTRAL, "moe_skew", moe_skew=2.0, moe_routing="counts", expert_counts=[1] * 8)


def test_a_model_whose_moe_layers_are_all_dense_routes_no_token():
    # Qwen2-MoE's decoder_sparse_step past the last layer: every layer its dense MLP, no expert built
    g = build_workload("hf", {"config": {**QWEN3_30B, "decoder_sparse_step": 100, "num_hidden_layers": 2},
                              "seq_len": 4})
    moe = g.meta["moe"]
    assert moe["moe_layers"] == 0 and moe["experts_hit"] == 0 and sum(moe["tokens_per_expert"]) == 0
    assert moe["active_params"] == moe["total_params"] == g.meta["model_params"]


def test_a_sliding_window_layer_holds_window_tokens_after_a_pass():
    # Mistral-7B: W = 4096. A decode step at position p attends to p − W + 1 … p: W − 1 cached tokens (all a layer
    # keeps between steps, transformers' DynamicSlidingWindowLayer) and its own; after its append the cache holds
    # W tokens. bf16: 32 layers × (k, v) × 8 KV heads × 128 × 4096 tokens × 2 bytes = 536,870,912
    w = load_workload("mistral_7b")
    per_window = 32 * 2 * 8 * 128 * 4096 * 2
    assert per_window == 536_870_912
    for phase, extra in (("decode", {"kv_len": 6000}), ("prefill", {"seq_len": 8192})):
        g = build_workload(w.model, {**w.params, "dtype": "bf16", "phase": phase, **extra})
        assert g.meta["kv_cache_bytes"] == per_window, phase
    g = build_workload(w.model, {**w.params, "dtype": "bf16", "phase": "decode", "kv_len": 6000})
    assert g.inputs["model.layers.0.self_attn.k_cache"] == (1, 8, 4095, 128)
    assert g["model.layers.0.self_attn.scores"].attrs["kv_len"] == 4096


def test_a_config_without_architectures_is_read_by_its_model_type():
    # transformers' AutoModelForCausalLM.from_config resolves the class by model_type (MODEL_FOR_CAUSAL_LM_MAPPING
    # _NAMES): Qwen3-30B-A3B's published config carries "model_type": "qwen3_moe" → Qwen3MoeForCausalLM
    cfg = {k: v for k, v in QWEN3_30B.items() if k != "architectures"}
    assert _params({**cfg, "model_type": "qwen3_moe"}) == QWEN3_30B_PARAMS
    # Mixtral's "mixtral" → MixtralForCausalLM
    cfg = {k: v for k, v in MIXTRAL.items() if k != "architectures"}
    assert _params({**cfg, "model_type": "mixtral"}) == MIXTRAL_PARAMS


def test_model_types_follow_transformers_auto_mappings():
    from accelsim.builders.hfconfig import MODEL_TYPES, READERS
    # entries of transformers' models/auto/modeling_auto.py: MODEL_FOR_CAUSAL_LM_MAPPING_NAMES (gemma3_text,
    # hunyuan_v1_dense, deepseek_v32, gpt2's GPT2LMHeadModel) and, for a vision-language config whose top level
    # holds text and vision configs, MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES (gemma3, llama4, llava)
    assert MODEL_TYPES["gemma3_text"] == "Gemma3ForCausalLM" and MODEL_TYPES["llama4_text"] == "Llama4ForCausalLM"
    assert MODEL_TYPES["hunyuan_v1_dense"] == "HunYuanDenseV1ForCausalLM"
    assert MODEL_TYPES["deepseek_v32"] == "DeepseekV32ForCausalLM" and MODEL_TYPES["gpt2"] == "GPT2LMHeadModel"
    assert MODEL_TYPES["gemma3"] == "Gemma3ForConditionalGeneration"
    assert MODEL_TYPES["llama4"] == "Llama4ForConditionalGeneration"
    assert MODEL_TYPES["llava"] == "LlavaForConditionalGeneration"
    # every supported class but trust_remote_code's PhiMoEForCausalLM (transformers' PhimoeForCausalLM) has a type
    assert set(READERS) - set(MODEL_TYPES.values()) == {"PhiMoEForCausalLM"}


def test_an_unknown_model_type_without_architectures_is_refused():
    msg = refused({"model_type": "bert", "hidden_size": 768}, "model_type")
    assert "'bert' is not supported" in msg and "accelsim list hf" in msg
    # no model_type either: the architectures message as before
    assert "expected a list of one architecture name" in refused({"hidden_size": 768}, "architectures")


def test_expert_parallel_that_does_not_divide_the_experts_is_named_at_its_key():
    # Mixtral's 8 experts over 3 chips: the error is the expert_parallel key's (its line, or its --set), not the
    # model's: pydantic's whole-model check would carry no key
    # (in training: inference spreads a remainder since probe p250 #3, as vLLM's determine_expert_map)
    msg = refused(MIXTRAL, "expert_parallel", expert_parallel=3, mode="training")
    assert "must divide the experts (8) in training" in msg and "(got 3)" in msg
    assert "at most the experts (8)" in refused(MIXTRAL, "expert_parallel", expert_parallel=9)
    cfg = {k: v for k, v in MIXTRAL.items() if k not in ("num_local_experts", "num_experts_per_tok")}
    cfg["architectures"] = ["MistralForCausalLM"]
    assert "needs a mixture-of-experts model" in refused(cfg, "expert_parallel", expert_parallel=2)


# probe p79 #1: the configs of its e3.yaml and e5.yaml, written as an inline `config:` mapping of the experiment
_SMALL = {"hidden_size": 512, "num_attention_heads": 8, "num_hidden_layers": 2, "intermediate_size": 1024,
          "vocab_size": 1000}


@pytest.mark.parametrize("arch, fields, key, why", [
    # GQA: 16 KV heads cannot share 8 query heads
    ("LlamaForCausalLM", {"num_key_value_heads": 16}, "num_key_value_heads",
     "16 must divide num_attention_heads (8)"),
    # top-6 routing over 4 experts
    ("MixtralForCausalLM", {"num_local_experts": 4, "num_experts_per_tok": 6}, "num_experts_per_tok",
     "6 experts per token exceed the model's 4 experts"),
])
def test_an_inline_config_mappings_error_is_at_its_keys_line(tmp_path, arch, fields, key, why):
    config = {"architectures": [arch], **_SMALL, **fields}
    text = yaml.safe_dump({"name": "e", "workload": {"model": "hf", "config": config}, "arch": "h100"},
                          sort_keys=False, default_flow_style=None)
    path = tmp_path / "e.yaml"
    path.write_text(text)
    # the bad key's own line in the file (1-based), not the `workload:` line (2) it was reported at before
    line = 1 + next(i for i, t in enumerate(text.splitlines()) if t.strip().startswith(f"{key}:"))
    assert line > 4  # name, workload, model, config come first
    with pytest.raises(ConfigError) as e:
        load_experiment(path)
    assert str(e.value).endswith(f"e.yaml:{line}: workload.config.{key}: {why}"), str(e.value)
