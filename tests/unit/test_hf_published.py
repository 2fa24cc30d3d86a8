"""Published config.json files the ``hf`` reader refused for fields whose values build the same model (probe p44):
each imports with the model card's parameter count; a value that would change the model is refused naming its key."""

from __future__ import annotations

import json

from accelsim.builders import build_workload

from .hf_checks import refused

# Qwen/Qwen2.5-0.5B config.json (https://huggingface.co/Qwen/Qwen2.5-0.5B/blob/main/config.json), as published
QWEN25_05B = {"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
              "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
              "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24,
              "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
              "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": True,
              "torch_dtype": "bfloat16", "transformers_version": "4.40.1", "use_cache": True, "use_mrope": False,
              "use_sliding_window": False, "vocab_size": 151936}
# tied table V·h; per layer q (h × h + bias h), k and v (2 heads of 64: h × 128 + bias 128 each), o (h × h), three
# h × 4864 MLP projections, two RMSNorms; the final norm: 494,032,768 (the model card's 0.49 B)
QWEN25_05B_PARAMS = 151936 * 896 + 24 * (896 * 896 + 896 + 2 * (896 * 128 + 128) + 896 * 896 + 3 * 896 * 4864
                                         + 2 * 896) + 896

# bigcode/starcoder2-15b config.json (https://huggingface.co/bigcode/starcoder2-15b/blob/main/config.json)
STARCODER2_15B = {"_name_or_path": "/aot/checkpoints/15b/config.json", "architectures": ["Starcoder2ForCausalLM"],
                  "attention_dropout": 0.0, "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "gelu_pytorch_tanh",
                  "hidden_size": 6144, "initializer_range": 0.01275, "intermediate_size": 24576,
                  "max_position_embeddings": 16384, "mlp_type": "default", "model_type": "starcoder2",
                  "norm_epsilon": 1e-05, "norm_type": "layer_norm", "num_attention_heads": 48,
                  "num_hidden_layers": 40, "num_key_value_heads": 4, "rms_norm_eps": 1e-05, "rope_theta": 100000,
                  "sliding_window": 4096, "tie_word_embeddings": False, "torch_dtype": "float32",
                  "transformers_version": "4.37.0.dev0", "use_bias": True, "use_cache": True, "vocab_size": 49152}
# untied table and head 2·V·h; per layer q and o h × h + bias h each, k and v 4 heads of 128 (h × 512 + bias 512
# each), c_fc h × 24576 + bias 24576, c_proj 24576 × h + bias h, two LayerNorms (weight and bias); the final
# LayerNorm: 15,957,889,024 (the 15B model card's 16 B class)
STARCODER2_15B_PARAMS = 2 * 49152 * 6144 + 40 * (2 * (6144 * 6144 + 6144) + 2 * (6144 * 512 + 512)
                                                 + 6144 * 24576 + 24576 + 24576 * 6144 + 6144 + 2 * 2 * 6144) \
    + 2 * 6144

# microsoft/Phi-3.5-mini-instruct config.json (https://huggingface.co/microsoft/Phi-3.5-mini-instruct), the fields
# that shape the model and its attention_bias (the rope factors trimmed to one each)
PHI35_MINI = {"architectures": ["Phi3ForCausalLM"], "attention_bias": False, "hidden_act": "silu",
              "hidden_size": 3072, "intermediate_size": 8192, "max_position_embeddings": 131072,
              "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
              "original_max_position_embeddings": 4096, "rms_norm_eps": 1e-05,
              "rope_scaling": {"long_factor": [1.0], "short_factor": [1.0], "type": "longrope"},
              "sliding_window": 262144, "tie_word_embeddings": False, "vocab_size": 32064}
# untied 2·V·h; per layer qkv_proj h × 3h, o_proj h × h, gate_up_proj h × 2·8192, down_proj 8192 × h, two RMSNorms;
# the final norm: 3,821,079,552 (the model card's 3.8 B)
PHI35_MINI_PARAMS = 2 * 32064 * 3072 + 32 * (3072 * 3 * 3072 + 3072 * 3072 + 3072 * 2 * 8192 + 8192 * 3072
                                             + 2 * 3072) + 3072


def _params(config: dict) -> int:
    return build_workload("hf", {"config": config, "seq_len": 4}).meta["model_params"]


def test_published_configs_import_with_the_model_cards_counts():
    assert (QWEN25_05B_PARAMS, STARCODER2_15B_PARAMS, PHI35_MINI_PARAMS) == (494_032_768, 15_957_889_024,
                                                                             3_821_079_552)
    assert _params(QWEN25_05B) == QWEN25_05B_PARAMS
    assert _params(STARCODER2_15B) == STARCODER2_15B_PARAMS
    assert _params(PHI35_MINI) == PHI35_MINI_PARAMS


def test_use_mrope_changes_no_op():
    # m-RoPE only chooses which position id each rotary frequency takes: the same ops either way
    assert _params({**QWEN25_05B, "use_mrope": True}) == QWEN25_05B_PARAMS
    refused({**QWEN25_05B, "use_mrope": "no"}, "use_mrope")


def test_values_that_would_change_the_model_are_refused_naming_the_key():
    assert "'glu' is not supported" in refused({**STARCODER2_15B, "mlp_type": "glu"}, "mlp_type")
    assert "'rms_norm'" in refused({**STARCODER2_15B, "norm_type": "rms_norm"}, "norm_type")
    refused({**STARCODER2_15B, "rms_norm_eps": "tiny"}, "rms_norm_eps")
    assert "no bias" in refused({**PHI35_MINI, "attention_bias": True}, "attention_bias")


# meta-llama/Llama-3.2-1B config.json (https://huggingface.co/meta-llama/Llama-3.2-1B/blob/main/config.json)
LLAMA32_1B = {"architectures": ["LlamaForCausalLM"], "attention_bias": False, "head_dim": 64, "hidden_act": "silu",
              "hidden_size": 2048, "intermediate_size": 8192, "max_position_embeddings": 131072, "mlp_bias": False,
              "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
              "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                               "original_max_position_embeddings": 8192, "rope_type": "llama3"},
              "tie_word_embeddings": True, "vocab_size": 128256}


def _errors(tmp_path, capsys, config: dict, *sets: str) -> list[str]:
    from accelsim.cli import main

    path = tmp_path / "config.json"
    path.write_text(json.dumps(config, indent=1))  # "{" on line 1, then a key a line, a list's or mapping's items
    # each on their own (architectures' one name on line 3, its "]" on line 4)
    code = main(["info", "hf", "--set", f"workload.config={path}", *(f"--set={s}" for s in sets)])
    assert code == 2
    return capsys.readouterr().err.strip().replace("accelsim: error: ", "").replace(str(path), "FILE").splitlines()


def test_every_problem_of_a_config_json_is_named_at_its_line(tmp_path, capsys):
    bad = {**LLAMA32_1B, "vocab_size": 0, "foo_bar": 1, "rope_scaling": {"rope_type": "weird"}}
    # keys in insertion order: architectures on lines 2-4, attention_bias … rms_norm_eps on 5-15, rope_scaling on 16
    # (its rope_type on 17, its "}" on 18), tie_word_embeddings 19, vocab_size 20, foo_bar 21
    lines = _errors(tmp_path, capsys, bad)
    assert [line.split(" ", 2)[:2] for line in lines] == [["FILE:17:", "rope_scaling.rope_type:"],
                                                          ["FILE:20:", "vocab_size:"], ["FILE:21:", "foo_bar:"]]
    assert lines[1].endswith("expected an integer ≥ 1 (got 0)") and "unsupported field" in lines[2]


def test_a_set_value_is_blamed_on_the_set_and_a_file_value_on_the_file(tmp_path, capsys):
    bad = {**LLAMA32_1B, "num_key_value_heads": 5}  # 5 does not divide 32 heads; line 5 + 9 keys = 14
    lines = _errors(tmp_path, capsys, bad, "workload.vocab_size=-1")
    assert lines == ["--set: workload.vocab_size: expected an integer ≥ 1 (got -1)",
                     "FILE:14: num_key_value_heads: 5 must divide num_attention_heads (32)"]
    assert _errors(tmp_path, capsys, LLAMA32_1B, "workload.num_key_value_heads=5") == [
        "--set: workload.num_key_value_heads: 5 must divide num_attention_heads (32)"]


def test_pipeline_keys_are_named_as_gpt_only_all_at_once(tmp_path, capsys):
    lines = _errors(tmp_path, capsys, LLAMA32_1B, "workload.pipeline_parallel=16", "workload.micro_batches=64")
    assert [line.split(":")[1].strip() for line in lines] == ["workload.pipeline_parallel", "workload.micro_batches"]
    assert all("pipeline parallelism is modelled for 'model: gpt' (Megatron GPT) only" in line for line in lines)
