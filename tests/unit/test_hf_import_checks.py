"""Hugging Face import: published fields (Gemma-2's sliding_window_size), a model folder as the config, the LM head
under weight_dtype, MoE / MLA params refused on models without them, and "did you mean" for misspelt keys."""

from __future__ import annotations

import json

import pytest

from accelsim.builders import build_workload
from accelsim.cli import main
from accelsim.config import load_workload
from accelsim.errors import ConfigError

# google/gemma-2-9b's published config.json (transformers 4.42.0.dev0), with both window fields
GEMMA2_9B = {
    "architectures": ["Gemma2ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "attn_logit_softcapping": 50.0, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": 1,
    "final_logit_softcapping": 30.0, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
    "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 3584, "initializer_range": 0.02,
    "intermediate_size": 14336, "max_position_embeddings": 8192, "model_type": "gemma2", "num_attention_heads": 16,
    "num_hidden_layers": 42, "num_key_value_heads": 8, "pad_token_id": 0, "query_pre_attn_scalar": 256,
    "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 4096, "sliding_window_size": 4096,
    "torch_dtype": "float32", "transformers_version": "4.42.0.dev0", "use_cache": True, "vocab_size": 256000}

# a small untied Llama: hidden 256, 4 heads of 64, 2 KV heads, SwiGLU 512, 2 layers, vocabulary 1000
SMALL = {"architectures": ["LlamaForCausalLM"], "hidden_size": 256, "num_attention_heads": 4,
         "num_key_value_heads": 2, "intermediate_size": 512, "num_hidden_layers": 2, "vocab_size": 1000,
         "tie_word_embeddings": False}
# per layer: q and o 256·256 each, k and v 256·(2·64) each, gate / up / down 256·512 each
SMALL_LINEAR = 2 * (2 * 256 * 256 + 2 * 256 * 128 + 3 * 256 * 512)  # 1,179,648
SMALL_TABLE = 1000 * 256  # the embedding, and the untied head
SMALL_NORMS = (2 * 2 + 1) * 256


def test_gemma2_9b_published_config_reads_with_its_sliding_window_size():
    g = build_workload("hf", {"config": GEMMA2_9B, "seq_len": 8})
    # 9.24 B (model card): V·h + L·(h·(16 + 2·8)·256 + 16·256·h + 3·h·f + 4h) + h, tied head
    per_layer = 3584 * 32 * 256 + 4096 * 3584 + 3 * 3584 * 14336 + 4 * 3584
    assert g.params == 256000 * 3584 + 42 * per_layer + 3584 == 9_241_705_984
    without = build_workload("hf", {"config": {k: v for k, v in GEMMA2_9B.items() if k != "sliding_window_size"},
                                    "seq_len": 8})
    assert g.params == without.params and g.macs == without.macs


def test_a_different_sliding_window_size_is_an_error_naming_it():
    with pytest.raises(ConfigError) as e:
        load_workload({"model": "hf", "config": {**GEMMA2_9B, "sliding_window_size": 2048}})
    assert "sliding_window_size: 2048 differs from sliding_window (4096)" in str(e.value)


def test_a_model_folder_reads_its_config_json(tmp_path):
    folder = tmp_path / "qwen2.5-mini"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(SMALL))
    g = build_workload("hf", {"config": str(folder), "seq_len": 8})
    assert g.params == SMALL_LINEAR + 2 * SMALL_TABLE + SMALL_NORMS
    assert g.name == "qwen2.5-mini"  # the folder's name, as for FOLDER/config.json
    # a bad field is reported at its line of FOLDER/config.json
    text = json.dumps({"hidden_act": "relu", **SMALL}, indent=0)
    (folder / "config.json").write_text(text)
    with pytest.raises(ConfigError) as e:
        load_workload({"model": "hf", "config": str(folder)})
    line = text.splitlines().index('"hidden_act": "relu",') + 1
    assert f"{folder / 'config.json'}:{line}: hidden_act:" in str(e.value)


def test_weight_dtype_quantises_the_decoder_linears_and_keeps_the_head():
    g = build_workload("hf", {"config": SMALL, "seq_len": 8, "dtype": "bf16", "weight_dtype": "int4"})
    # int4 with one fp16 scale per 128 weights: ½ + 2/128 = 0.515625 B a weight; head, embedding, norms: 2 B each
    assert g.weight_bytes == SMALL_LINEAR * 0.515625 + 2 * (2 * SMALL_TABLE + SMALL_NORMS) == 1_634_816
    head = next(op for op in g.ops if op.name == "lm_head")
    assert head.weight_bytes == 2 * SMALL_TABLE and "dequant" not in head.attrs
    down = next(op for op in g.ops if op.name.endswith("layers.1.mlp.down_proj"))
    assert down.weights[0].dtype == "int4" and down.attrs["dequant"] == "int4"
    # a tied head is the embedding's table: stored once, in bf16
    tied = build_workload("hf", {"config": {**SMALL, "tie_word_embeddings": True}, "seq_len": 8, "dtype": "bf16",
                                 "weight_dtype": "int4"})
    assert tied.weight_bytes == SMALL_LINEAR * 0.515625 + 2 * (SMALL_TABLE + SMALL_NORMS)


def test_awq_qwen2_5_7b_keeps_its_lm_head_in_16_bits():
    # Qwen2.5-7B's config with an AWQ quantization_config: weight_dtype int4 stands for it (AutoAWQ's checkpoint)
    cfg = {"architectures": ["Qwen2ForCausalLM"], "hidden_act": "silu", "hidden_size": 3584,
           "intermediate_size": 18944, "max_window_layers": 28, "num_attention_heads": 28, "num_hidden_layers": 28,
           "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "sliding_window": 131072, "tie_word_embeddings": False,
           "use_sliding_window": False, "vocab_size": 152064,
           "quantization_config": {"bits": 4, "group_size": 128, "quant_method": "awq", "version": "gemm",
                                   "zero_point": True}}
    g = build_workload("hf", {"config": cfg, "seq_len": 1, "dtype": "bf16", "weight_dtype": "int4"})
    linear = 28 * (3584 * 3584 + 2 * 3584 * 512 + 3584 * 3584 + 3 * 3584 * 18944)  # q, k, v, o, gate / up / down
    table = 152064 * 3584
    small = 28 * (3584 + 2 * 512) + 28 * 2 * 3584 + 3584  # q/k/v biases, two norms a layer, the final norm
    assert g.weight_bytes == linear * 0.515625 + 2 * (2 * table + small) == 5_545_257_984


@pytest.mark.parametrize("override", ["mla=heads", "moe_routing=skewed", "capacity_factor=1.25",
                                      "expert_weight_dtype=fp4", "moe_skew=2", "expert_counts=[1,2]",
                                      "expert_tensor_parallel=4", "expert_parallel=2"])
def test_moe_and_mla_params_on_a_dense_model_are_refused(capsys, override):
    key = override.split("=")[0]
    code = main(["info", "llama3_8b", "--set", f"workload.{override}", "--set", "workload.layers=1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and f"--set: workload.{key}: needs a" in err
    assert "LlamaForCausalLM has no" in err


def test_moe_and_mla_params_at_their_defaults_and_on_the_models_that_read_them_are_accepted():
    load_workload("llama3_8b", ["workload.layers=1", "workload.mla=latent", "workload.moe_routing=balanced",
                                "workload.capacity_factor=0"])
    # probe p71 #2: a default derived from another key is the default: expert_tensor_parallel = tensor_parallel,
    # expert_weight_dtype = the weights' dtype (the compute's, 16-bit, when none is given)
    for extra in (["workload.tensor_parallel=2", "workload.expert_tensor_parallel=2"],
                  ["workload.dtype=bf16", "workload.expert_weight_dtype=bf16"],
                  ["workload.weight_dtype=int4", "workload.expert_weight_dtype=int4"]):
        w = load_workload("llama3_8b", ["workload.layers=1", *extra])
        build_workload(w.model, w.params)
    w = load_workload("deepseek_v2_lite", ["workload.layers=2", "workload.seq_len=4", "workload.mla=heads",
                                           "workload.moe_routing=skewed", "workload.capacity_factor=1.25",
                                           "workload.expert_weight_dtype=fp4"])
    g = build_workload(w.model, w.params)
    assert g.meta["moe"]["routing"] == "skewed" and "mla" not in g.meta["unread_params"]


@pytest.mark.parametrize("override, meant", [("seq_lenn=4", "seq_len"), ("decode_step=4", "decode_steps")])
def test_a_misspelt_workload_param_gets_did_you_mean(capsys, override, meant):
    code = main(["info", "llama3_8b", "--set", f"workload.{override}"])
    err = capsys.readouterr().err.strip()
    key = override.split("=")[0]
    assert code == 2 and len(err.splitlines()) == 1
    assert f"workload.{key}: not a parameter of the hf builder nor a field LlamaForCausalLM reads; did you mean " \
           f"'{meant}'?" in err


def test_a_misspelt_config_field_gets_did_you_mean(capsys, tmp_path):
    code = main(["info", "llama3_8b", "--set", "workload.num_kv_heads=4"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and ("workload.num_kv_heads: unsupported field for LlamaForCausalLM; did you mean "
                          "'num_key_value_heads'?") in err
    # in a config.json: its line; Qwen2's default of 32 KV heads then fails against 28 heads, and the typo is why
    path = tmp_path / "config.json"
    cfg = {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 3584, "intermediate_size": 18944,
           "num_attention_heads": 28, "num_hidden_layers": 2, "num_key_value_head": 4, "vocab_size": 1000}
    path.write_text(json.dumps(cfg, indent=0))
    code = main(["info", "hf", "--set", f"workload.config={path}"])
    err = capsys.readouterr().err
    line = json.dumps(cfg, indent=0).splitlines().index('"num_key_value_head": 4,') + 1
    assert code == 2
    assert (f"{path}:{line}: num_key_value_head: unsupported field for Qwen2ForCausalLM; did you mean "
            f"'num_key_value_heads'?") in err


def test_a_vlms_misspelt_key_names_the_model_run(capsys):
    # probe p97 #5: Qwen2.5-VL's misspelt 'imagez' named the text reader's architecture, Qwen2ForCausalLM, not the
    # model's own (workloads/qwen2_5_vl_7b.yaml: architectures [Qwen2_5_VLForConditionalGeneration])
    from accelsim.cli import main

    assert main(["info", "qwen2_5_vl_7b", "--set", "workload.imagez=1"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("workload.imagez: not a parameter of the hf builder nor a field "
                         "Qwen2_5_VLForConditionalGeneration reads; did you mean 'images'?"), line
