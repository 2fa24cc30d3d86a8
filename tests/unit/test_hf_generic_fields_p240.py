"""PretrainedConfig's generic fields and legacy keys change no model and are accepted on any architecture (probe p240
#1: gpt2-medium's published config.json was refused for ``n_special`` / ``predict_special_tokens``, distilgpt2's
for ``_num_labels`` / ``gradient_checkpointing`` / ``output_past``, and every ``return_dict``, ``num_labels``,
``max_length``, ``temperature``, ... as "the model it changes is not built")."""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.config import load_workload

from .hf_checks import refused

# openai-community/gpt2-medium config.json as from_pretrained("gpt2-medium") prints it (transformers 4.12.5): the
# fields GPT2Config reads, the summary head's, and the two legacy keys of the original GPT config
GPT2_MEDIUM = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
               "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
               "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 1024, "n_head": 16,
               "n_layer": 24, "n_positions": 1024, "n_special": 0, "predict_special_tokens": True,
               "resid_pdrop": 0.1, "summary_activation": None, "summary_first_dropout": 0.1,
               "summary_proj_to_labels": True, "summary_type": "cls_index", "summary_use_proj": True,
               "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
               "vocab_size": 50257}
# wte 50257·1024 + wpe 1024·1024 + 24 layers × (c_attn 1024·3072 + c_proj 1024² + c_fc 1024·4096 + mlp c_proj
# 4096·1024, their biases 3072 + 1024 + 4096 + 1024, two LayerNorms 2·2·1024) + ln_f 2·1024; tied head
D = 1024
GPT2_MEDIUM_PARAMS = 50257 * D + 1024 * D + 24 * (4 * D * D + 2 * D * 4 * D + 3072 + 1024 + 4096 + 1024 + 4 * D) \
    + 2 * D

# meta-llama/Llama-3.2-1B config.json, the fields that shape the model
LLAMA = {"architectures": ["LlamaForCausalLM"], "hidden_size": 2048, "intermediate_size": 8192,
         "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 16, "vocab_size": 128256,
         "head_dim": 64, "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "hidden_act": "silu"}
# embed 128256·2048 (tied) + 16 × (q, o 2·2048² + k, v 2·2048·512 + gate, up, down 3·2048·8192 + 2 norms 2·2048)
# + the final norm 2048: 1,235,814,400, the model card's 1.24B
LLAMA_PARAMS = 128256 * 2048 + 16 * (2 * 2048 * 2048 + 2 * 2048 * 512 + 3 * 2048 * 8192 + 2 * 2048) + 2048

# what PretrainedConfig.__init__ pops on every class (transformers 4.4x src/transformers/configuration_utils.py), at
# its defaults, and its _get_global_generation_defaults (25 keys), as a config saved with use_diff=False holds them
PRETRAINED_CONFIG = {
    "return_dict": True, "output_hidden_states": False, "output_attentions": False, "torchscript": False,
    "tf_legacy_loss": False, "pruned_heads": {}, "chunk_size_feed_forward": 0, "is_encoder_decoder": False,
    "is_decoder": False, "cross_attention_hidden_size": None, "add_cross_attention": False,
    "tie_encoder_decoder": False, "finetuning_task": None, "id2label": {"0": "LABEL_0", "1": "LABEL_1"},
    "label2id": {"LABEL_0": 0, "LABEL_1": 1}, "problem_type": None, "tokenizer_class": None, "prefix": None,
    "sep_token_id": None, "decoder_start_token_id": None, "task_specific_params": None, "use_bfloat16": False,
    "torch_dtype": "bfloat16", "transformers_version": "4.44.0", "_name_or_path": "",
    "max_length": 20, "min_length": 0, "do_sample": False, "early_stopping": False, "num_beams": 1,
    "num_beam_groups": 1, "diversity_penalty": 0.0, "temperature": 1.0, "top_k": 50, "top_p": 1.0, "typical_p": 1.0,
    "repetition_penalty": 1.0, "length_penalty": 1.0, "no_repeat_ngram_size": 0, "encoder_no_repeat_ngram_size": 0,
    "bad_words_ids": None, "num_return_sequences": 1, "output_scores": False, "return_dict_in_generate": False,
    "forced_bos_token_id": None, "forced_eos_token_id": None, "remove_invalid_values": False,
    "exponential_decay_length_penalty": None, "suppress_tokens": None, "begin_suppress_tokens": None,
}


def _params(config: dict) -> int:
    w = load_workload({"model": "hf", "config": config, "seq_len": 4})
    return build_workload(w.model, w.params).params


def test_gpt2_mediums_published_config_builds_its_published_count():
    assert GPT2_MEDIUM_PARAMS == 354_823_168  # the model card's 355M; transformers' num_parameters()
    assert _params(GPT2_MEDIUM) == GPT2_MEDIUM_PARAMS  # before: exit 2 at n_special


def test_distilgpt2s_legacy_keys_are_accepted():
    # distilgpt2's config as from_pretrained loads it: the legacy _num_labels (num_labels' old name), output_past
    # (use_cache's) and gradient_checkpointing false, which PretrainedConfig keeps as plain attributes
    legacy = {"_num_labels": 1, "id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}, "output_past": True,
              "gradient_checkpointing": False, "n_layer": 6}
    # distilgpt2: 6 layers of GPT-2 small's, each c_attn, c_proj 4·768² + c_fc, mlp c_proj 2·768·3072 + biases
    # 3·768 + 768 + 4·768 + 768 + two LayerNorms 4·768 = 12·768² + 13·768 = 7,087,872; with wte 50257·768, wpe
    # 1024·768 and ln_f 2·768: 81,912,576 (the model card's 82M)
    h = 768
    layer = 4 * h * h + 2 * h * 4 * h + 3 * h + h + 4 * h + h + 4 * h
    assert _params({**GPT2_MEDIUM, "n_embd": h, "n_head": 12, **legacy}) == \
        50257 * h + 1024 * h + 6 * layer + 2 * h == 81_912_576


def test_every_generic_pretrained_config_field_is_accepted_on_llama():
    assert LLAMA_PARAMS == 1_235_814_400
    assert _params({**LLAMA, **PRETRAINED_CONFIG, "num_labels": 2}) == _params(LLAMA) == LLAMA_PARAMS


@pytest.mark.parametrize("field, value", [("pruned_heads", {"0": [1, 2]}), ("gradient_checkpointing", True)])
def test_a_generic_field_whose_value_changes_the_model_is_refused(field, value):
    # transformers' init_weights prunes the named heads (a model with fewer heads); post_init turns a true
    # gradient_checkpointing into training recomputation: neither is built
    msg = refused({**LLAMA, field: value}, field)
    assert "is not supported" in msg


def test_gpt2_still_refuses_cross_attention():
    # add_cross_attention is generic (ignored on Llama, whose modules never read it) but GPT-2 builds cross-attention
    # blocks from it, which are not built: still refused there
    assert "decoder-only GPT-2" in refused({**GPT2_MEDIUM, "add_cross_attention": True}, "add_cross_attention")


def test_a_misspelt_generic_field_is_named_as_one_and_no_model_field_offered():
    # before: output_attentions itself was refused with "did you mean 'attention_bias'?", a field that changes the
    # model; a misspelling of a generic field is named as that field now
    msg = refused({**LLAMA, "output_attention": False}, "output_attention")
    assert "did you mean 'output_attentions' (a field that changes no model)?" in msg
    assert "attention_bias" not in msg
    # a field the architecture reads is still offered where it is the closer one
    assert "did you mean 'num_key_value_heads'?" in refused({**LLAMA, "num_kv_heads": 8}, "num_kv_heads")


def test_neox_accepts_berts_dropout_names():
    # GPT-NeoX-20B's config as public copies quote it carries attention_probs_dropout_prob / hidden_dropout_prob,
    # which GPTNeoXConfig does not take (its modules read attention_dropout and hidden_dropout); 2 layers of
    # Pythia-160m's shape: 768 wide, 12 heads, FFN 3072, vocab 50304, untied embed_out
    neox = {"architectures": ["GPTNeoXForCausalLM"], "hidden_size": 768, "num_attention_heads": 12,
            "num_hidden_layers": 2, "intermediate_size": 3072, "vocab_size": 50304, "rotary_pct": 0.25}
    assert _params({**neox, "attention_probs_dropout_prob": 0.0, "hidden_dropout_prob": 0.0}) == _params(neox)
