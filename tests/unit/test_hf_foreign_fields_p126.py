"""Fields of one Hugging Face family on another's config (probe p126 #2): refused as any unknown field, and the
"did you mean" drawn only from the fields the architecture reads (before: GPT-2's ``summary_*`` and OPT's
``layerdrop`` were accepted on every architecture and offered as hints, ``n_layer`` → ``layerdrop``)."""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.config import load_workload

from .hf_checks import refused

# meta-llama/Llama-3.2-1B config.json, the fields that shape the model
LLAMA = {"architectures": ["LlamaForCausalLM"], "hidden_size": 2048, "intermediate_size": 8192,
         "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 16, "vocab_size": 128256,
         "head_dim": 64, "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "hidden_act": "silu"}
NO_HINT = "unsupported field for LlamaForCausalLM (the model it changes is not built"

# openai-community/gpt2 config.json (https://huggingface.co/openai-community/gpt2/blob/main/config.json), whole
GPT2 = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
        "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12,
        "n_positions": 1024, "resid_pdrop": 0.1, "summary_activation": None, "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True, "summary_type": "cls_index", "summary_use_proj": True,
        "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}}, "vocab_size": 50257}
# tokens 50257·768 + positions 1024·768 + 12 layers × (c_attn 768·2304 + 2304, c_proj 768² + 768, c_fc 768·3072 +
# 3072, mlp c_proj 3072·768 + 768, two LayerNorms 2·2·768) + ln_f 2·768; tied head: 124,439,808 (the model card's
# and transformers' num_parameters())
GPT2_PARAMS = 50257 * 768 + 1024 * 768 + 12 * (4 * 768 * 768 + 4 * 768 + 2 * 768 * 3072 + 3072 + 768 + 4 * 768) \
    + 2 * 768

# facebook/opt-125m config.json (https://huggingface.co/facebook/opt-125m/blob/main/config.json), whole
OPT = {"_name_or_path": "facebook/opt-125m", "activation_dropout": 0.0, "activation_function": "relu",
       "architectures": ["OPTForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 2, "do_layer_norm_before": True,
       "dropout": 0.1, "eos_token_id": 2, "ffn_dim": 3072, "hidden_size": 768, "init_std": 0.02, "layerdrop": 0.0,
       "max_position_embeddings": 2048, "model_type": "opt", "num_attention_heads": 12, "num_hidden_layers": 12,
       "pad_token_id": 1, "prefix": "</s>", "torch_dtype": "float16", "transformers_version": "4.21.0.dev0",
       "use_cache": True, "vocab_size": 50272, "word_embed_proj_dim": 768}
# tokens 50272·768 + positions (2048 + 2)·768 + 12 × (q, k, v, out 4·(768² + 768), two LayerNorms 4·768, fc1 and
# fc2 2·768·3072 + 3072 + 768) + final LayerNorm 2·768: 125,239,296 (transformers' num_parameters())
OPT_PARAMS = 50272 * 768 + 2050 * 768 + 12 * (4 * (768 * 768 + 768) + 4 * 768 + 2 * 768 * 3072 + 3072 + 768) \
    + 2 * 768


def test_n_layer_on_llama_hints_no_ignored_field():
    # GPT-2's name for num_hidden_layers; no field LlamaConfig reads is within difflib's 0.6 of it (num_hidden_layers:
    # 0.58), so no hint; before: "did you mean 'layerdrop'?" (OPT's, which Llama never reads)
    msg = refused({**LLAMA, "n_layer": 4}, "n_layer")
    assert NO_HINT in msg and "layerdrop" not in msg


def test_layer_types_on_llama_has_no_close_name():
    msg = refused({**LLAMA, "layer_types": ["full_attention"] * 16}, "layer_types")  # before: 'summary_type'
    assert NO_HINT in msg and "summary_type" not in msg


@pytest.mark.parametrize("field, value", [("summary_type", "cls_index"), ("n_ctx", 1024), ("layerdrop", 0.0),
                                          ("scale_attn_by_inverse_layer_idx", False)])
def test_another_familys_field_on_llama_is_refused(field, value):
    msg = refused({**LLAMA, field: value}, field)  # before: accepted, exit 0
    assert "unsupported field for LlamaForCausalLM" in msg


def test_a_misspelt_field_the_architecture_reads_still_gets_its_hint():
    msg = refused({**LLAMA, "num_kv_heads": 8}, "num_kv_heads")
    assert "did you mean 'num_key_value_heads'?" in msg


def test_gpt2_and_opt_keep_their_own_fields():
    # the published configs, summary_*, n_ctx and layerdrop included, read as the published models
    for config, params in ((GPT2, GPT2_PARAMS), (OPT, OPT_PARAMS)):
        w = load_workload({"model": "hf", "config": config, "seq_len": 4})
        assert build_workload(w.model, w.params).params == params
    assert (GPT2_PARAMS, OPT_PARAMS) == (124_439_808, 125_239_296)


GPT2_NO_HINT = "unsupported field for GPT2LMHeadModel (the model it changes is not built"


def test_a_hint_names_only_a_field_that_could_take_the_value():
    # probe p138 #6: OPT's layerdrop (a probability, 0.1) on GPT-2 got "did you mean 'n_layer'?": n_layer is the
    # integer layer count (transformers' GPT2Config), so following the hint, n_layer: 0.1, is refused too. A float
    # names no integer field; an integer may still name one (n_layers: 12 → n_layer), a float a number field
    msg = refused({**GPT2, "layerdrop": 0.1}, "layerdrop")
    assert GPT2_NO_HINT in msg and "n_layer" not in msg
    assert "did you mean 'n_layer'?" in refused({**GPT2, "n_layers": 12}, "n_layers")
    assert "did you mean 'attn_pdrop'?" in refused({**GPT2, "attn_pdrops": 0.1}, "attn_pdrops")
    # a bool is no count: true on a misspelt layer count names nothing
    assert GPT2_NO_HINT in refused({**GPT2, "n_layers": True}, "n_layers")
