"""Probe p90 #5 (the remaining case): a rule between two keys of an hf config is put at the key set last. Top-k
against the expert count (whichever key holds it: num_local_experts, num_experts, n_routed_experts, ...) and the
"must divide" rules between two keys (heads, KV heads, hidden size, a vision tower's patch and image size)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.builders.hfconfig import parse
from accelsim.errors import KeyPairError

from ..conftest import cli_error, cli_errors, preset_line


def test_a_set_expert_count_below_the_presets_top_k_is_at_the_set(capsys):
    # before: "workloads/mixtral_8x7b.yaml:26: num_experts_per_tok: 2 experts per token exceed the model's 1
    # experts" (the preset's top-k line, a key the user did not touch)
    line = cli_error(capsys, ["info", "mixtral_8x7b", "--set", "workload.num_local_experts=1"])
    at = preset_line("mixtral_8x7b", "num_experts_per_tok")
    assert line.startswith("accelsim: error: --set: workload.num_local_experts: 1 is fewer than "
                           "num_experts_per_tok (2, "), line  # Mixtral routes each token to 2 of its experts
    assert line.endswith(f"mixtral_8x7b.yaml:{at}), the experts each token is routed to"), line


def test_a_set_top_k_over_a_files_expert_count_is_at_the_set(here, capsys):
    Path("m.yaml").write_text("base: mixtral_8x7b\nnum_local_experts: 2\n")
    line = cli_error(capsys, ["info", "m.yaml", "--set", "workload.num_experts_per_tok=4"])
    assert line == "accelsim: error: --set: workload.num_experts_per_tok: 4 experts per token exceed the model's 2 " \
                   "experts", line


def test_a_files_expert_count_over_its_bases_top_k_is_at_the_files_line(here, capsys):
    Path("m.yaml").write_text("base: mixtral_8x7b\nnum_local_experts: 1\n")
    line = cli_error(capsys, ["info", "m.yaml"])
    assert line.startswith("accelsim: error: m.yaml:2: num_local_experts: 1 is fewer than num_experts_per_tok "
                           "(2, "), line


def test_both_in_one_file_stay_at_the_top_k(here, capsys):
    # a tie (both keys in the same file): the first key of the rule, the top-k, as before
    Path("m.yaml").write_text("base: mixtral_8x7b\nnum_local_experts: 3\nnum_experts_per_tok: 4\n")
    line = cli_error(capsys, ["info", "m.yaml"])
    assert line == "accelsim: error: m.yaml:3: num_experts_per_tok: 4 experts per token exceed the model's 3 experts"


@pytest.mark.parametrize("preset, experts_key, top_key", [
    ("deepseek_v3", "n_routed_experts", "num_experts_per_tok"),
    ("qwen1_5_moe_a2_7b", "num_experts", "num_experts_per_tok"),
    ("kimi_linear_48b", "num_experts", "num_experts_per_token"),  # Kimi's own spelling of top-k
    ("granite_4_h_tiny", "num_local_experts", "num_experts_per_tok"),
])
def test_each_family_names_the_key_that_holds_its_expert_count(capsys, preset, experts_key, top_key):
    line, *more = cli_errors(capsys, ["info", preset, "--set", f"workload.{experts_key}=1"])
    # DeepSeek-V3's 1 expert breaks a second rule too, its group-limited routing's: n_group 8 (the model's config)
    # must divide the routed experts (transformers' route_tokens_to_experts views the logits as n_group groups);
    # a value that breaks two rules is reported under both (probe p96b)
    assert more == ([f"accelsim: error: workloads/deepseek_v3.yaml:{preset_line(preset, 'n_group')}: n_group: 8 must "
                     f"divide n_routed_experts (1)"] if preset == "deepseek_v3" else []), more
    at = preset_line(preset, top_key)
    assert line.startswith(f"accelsim: error: --set: workload.{experts_key}: 1 is fewer than {top_key} ("), line
    assert f"{preset}.yaml:{at}), the experts each token is routed to" in line, line


@pytest.mark.parametrize("arch", ["OlmoeForCausalLM", "MiniMaxM2ForCausalLM"])
@pytest.mark.parametrize("written", ["num_experts", "num_local_experts"])
def test_a_chain_of_expert_count_keys_names_the_one_written(arch, written):
    # both classes read the count from either spelling; their default top-k is 8 (OlmoeConfig, MiniMaxM2Config),
    # more than the 4 experts written here
    with pytest.raises(KeyPairError) as e:
        parse({"architectures": [arch], written: 4})
    assert set(e.value.messages) == {"num_experts_per_tok", written}
    assert str(e.value) == "num_experts_per_tok: 8 experts per token exceed the model's 4 experts"


# a --set value that breaks a rule between two keys, the other in the preset: at the --set, naming the preset's line
# (before: at the preset's line of the other key)
@pytest.mark.parametrize("preset, key, value, other, other_value, indent", [
    # "workloads/llama3_8b.yaml:17: num_attention_heads: 32 must divide hidden_size (4097)"; 4097 = 32 · 128 + 1
    ("llama3_8b", "hidden_size", 4097, "num_attention_heads", 32, ""),
    # Qwen3-Next's gated DeltaNet: 16 key heads; 17 value heads are not a multiple
    ("qwen3_next_80b", "linear_num_value_heads", 17, "linear_num_key_heads", 16, ""),
    # "workloads/gemma3_27b.yaml:9: vision_config.patch_size: 14 must divide image_size (897)" (SigLIP-So400m's
    # 14-pixel patches; 897 = 64 · 14 + 1)
    ("gemma3_27b", "vision_config.image_size", 897, "patch_size", 14, "  "),
])
def test_a_set_value_breaking_a_rule_with_a_preset_key_is_at_the_set(capsys, preset, key, value, other, other_value,
                                                                     indent):
    line = cli_error(capsys, ["info", preset, "--set", f"workload.{key}={value}"])
    at = preset_line(preset, other, indent)
    assert line.startswith(f"accelsim: error: --set: workload.{key}: {value} is not a multiple of "
                           f"{other} ({other_value}, "), line
    assert line.endswith(f"{preset}.yaml:{at})"), line


def test_a_set_kv_heads_keep_their_message(capsys):
    # the first key of the rule set last: the message as before (32 query heads, 5 KV heads: 32 = 6 · 5 + 2)
    line = cli_error(capsys, ["info", "llama3_8b", "--set", "workload.num_key_value_heads=5"])
    assert line == "accelsim: error: --set: workload.num_key_value_heads: 5 must divide num_attention_heads (32)"


def test_a_set_hidden_size_over_a_config_json_names_the_files_line(here, capsys):
    Path("config.json").write_text('{\n "architectures": ["LlamaForCausalLM"],\n "hidden_size": 512,\n'
                                   ' "num_attention_heads": 8,\n "num_hidden_layers": 2,\n "intermediate_size": 1024,\n'
                                   ' "vocab_size": 1000\n}\n')
    Path("w.yaml").write_text("model: hf\nconfig: config.json\nseq_len: 16\n")
    line = cli_error(capsys, ["info", "w.yaml", "--set", "workload.hidden_size=500"])  # 500 = 62 · 8 + 4
    assert line.startswith("accelsim: error: --set: workload.hidden_size: 500 is not a multiple of "
                           "num_attention_heads (8, "), line
    assert line.endswith("config.json:4)"), line  # num_attention_heads is the file's 4th line
