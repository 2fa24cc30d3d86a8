"""A rule between three keys or more of an hf config (a Mamba-2 mixer's heads × head width = its width, a vision
tower's patch grid against the tokens an image gives) and the remaining two-key rules of the VLM, hybrid and
DeepSeek-V3.2 readers: each put at the key set last, naming where the other values came from, as the two-key rules
of tests/unit/test_hf_topk_blame.py are. Before, each was a plain ValueError at the rule's first key: a --set of
another key was reported at the preset's line of that first key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from accelsim.builders.hfconfig import parse
from accelsim.errors import KeyPairError

from ..conftest import cli_error, preset_line


def _at(preset: str, key: str, indent: str = "") -> str:
    """``PRESET.yaml:LINE`` of ``key:`` in a shipped preset (read from the file, not from the output)."""
    return f"{preset}.yaml:{preset_line(preset, key, indent)}"


def _ends_naming(line: str, *places: str) -> bool:
    """Whether ``line`` ends with the preset ``places`` (:func:`_at`), in order, as ", A, B)" (a preset prints as
    workloads/NAME.yaml from the repository's root, by its full path from elsewhere)."""
    return re.search("".join(rf", (?:\S*/)?workloads/{re.escape(p)}" for p in places) + r"\)$", line) is not None


# ---- three keys and more: at the --set, naming every other key's preset line ---------------------------------------

def test_falcon_h1_heads_set_over_the_preset_are_at_the_set(capsys):
    # before: "workloads/falcon_h1_7b.yaml:28: mamba_d_head: 128 × mamba_n_heads (7) must be mamba_d_ssm (3072)", the
    # preset's line of a key the user did not touch. Falcon-H1-7B: 24 heads of 128 = 3072 = mamba_d_ssm; 7 · 128 = 896
    line = cli_error(capsys, ["run", "-w", "falcon_h1_7b", "-a", "h100", "--set", "workload.mamba_n_heads=7"])
    assert line.startswith("accelsim: error: --set: workload.mamba_n_heads: 7 breaks mamba_d_head × mamba_n_heads = "
                           "mamba_d_ssm: 128 × 7 = 896, not 3072 (mamba_d_head 128, mamba_d_ssm 3072, "), line
    assert _ends_naming(line, _at("falcon_h1_7b", "mamba_d_head"), _at("falcon_h1_7b", "mamba_d_ssm")), line


@pytest.mark.parametrize("preset, key, value, rule, others", [
    # 24 · 128 = 3072, not the 3000 set
    ("falcon_h1_7b", "mamba_d_ssm", 3000, "mamba_d_head × mamba_n_heads = mamba_d_ssm: 128 × 24 = 3072, not 3000",
     ["mamba_d_head", "mamba_n_heads"]),
    # Granite 4.0-H Tiny: 48 heads of 64 = 3072 = 2 · 1536; mamba_expand 3 makes 4608
    ("granite_4_h_tiny", "mamba_expand", 3, "mamba_d_head × mamba_n_heads = mamba_expand × hidden_size: 64 × 48 = "
     "3072, not 4608", ["mamba_d_head", "mamba_n_heads", "hidden_size"]),
    # hidden_size 1548 (12 heads of 129) makes 2 · 1548 = 3096
    ("granite_4_h_tiny", "hidden_size", 1548, "mamba_d_head × mamba_n_heads = mamba_expand × hidden_size: 64 × 48 = "
     "3072, not 3096", ["mamba_d_head", "mamba_n_heads", "mamba_expand"]),
])
def test_a_set_width_key_is_at_the_set_naming_every_other_keys_line(capsys, preset, key, value, rule, others):
    line = cli_error(capsys, ["info", preset, "--set", f"workload.{key}={value}"])
    assert line.startswith(f"accelsim: error: --set: workload.{key}: {value} breaks {rule} ("), line
    assert _ends_naming(line, *(_at(preset, k) for k in others)), line


def test_a_users_file_over_its_base_is_at_the_files_line(here, capsys):
    Path("m.yaml").write_text("base: falcon_h1_7b\nmamba_n_heads: 7\n")
    line = cli_error(capsys, ["info", "m.yaml"])
    assert line.startswith("accelsim: error: m.yaml:2: mamba_n_heads: 7 breaks mamba_d_head × mamba_n_heads = "), line


def test_keys_of_one_file_stay_at_the_first_key_naming_the_others(here, capsys):
    # a tie (d_head and n_heads both in m.yaml): the rule's first key, mamba_d_head, its message as before
    # (100 · 7 = 700, not the preset's 3072) then where the other two came from
    Path("m.yaml").write_text("base: falcon_h1_7b\nmamba_d_head: 100\nmamba_n_heads: 7\n")
    line = cli_error(capsys, ["info", "m.yaml"])
    assert line.startswith("accelsim: error: m.yaml:2: mamba_d_head: 100 × mamba_n_heads (7) must be mamba_d_ssm "
                           "(3072, m.yaml:3, "), line
    assert _ends_naming(line, _at("falcon_h1_7b", "mamba_d_ssm")), line


_FALCON = {"architectures": ["FalconH1ForCausalLM"], "vocab_size": 1000, "hidden_size": 1024,
           "num_attention_heads": 8, "num_hidden_layers": 2, "mamba_d_ssm": 1024, "mamba_n_heads": 16,
           "mamba_d_head": 64, "mamba_n_groups": 1}  # 16 heads of 64 = 1024 = mamba_d_ssm


def _write_config() -> dict[str, int]:
    """The config.json of :data:`_FALCON`; the line of each key (found in the text written)."""
    text = json.dumps(_FALCON, indent=1)
    Path("config.json").write_text(text)
    return {k: 1 + next(i for i, t in enumerate(text.splitlines()) if t.strip().startswith(f'"{k}":'))
            for k in _FALCON}


def test_one_workload_key_over_a_config_json_names_every_other_keys_line(here, capsys):
    lines = _write_config()
    Path("w.yaml").write_text("model: hf\nconfig: config.json\nseq_len: 16\n")
    line = cli_error(capsys, ["info", "w.yaml", "--set", "workload.mamba_n_heads=7"])  # 7 · 64 = 448, not 1024
    assert line.startswith("accelsim: error: --set: workload.mamba_n_heads: 7 breaks mamba_d_head × mamba_n_heads = "
                           "mamba_d_ssm: 64 × 7 = 448, not 1024 (mamba_d_head 64, mamba_d_ssm 1024, "), line
    assert line.endswith(f"config.json:{lines['mamba_d_head']}, {here / 'config.json'}:{lines['mamba_d_ssm']})"), line


def test_two_workload_keys_over_a_config_json_are_ranked_naming_the_files_line(here, capsys):
    # before: the rule's problem went to the config.json's mamba_d_head line (the workload wrote two of the three)
    lines = _write_config()
    Path("w.yaml").write_text("model: hf\nconfig: config.json\nseq_len: 16\nmamba_n_heads: 16\n")
    line = cli_error(capsys, ["info", "w.yaml", "--set", "workload.mamba_d_ssm=1000"])  # 16 · 64 = 1024, not 1000
    assert line == ("accelsim: error: --set: workload.mamba_d_ssm: 1000 breaks mamba_d_head × mamba_n_heads = "
                    "mamba_d_ssm: 64 × 16 = 1024, not 1000 (mamba_d_head 64, mamba_n_heads 16, w.yaml:4, "
                    f"{here / 'config.json'}:{lines['mamba_d_head']})"), line


def test_the_rule_names_every_key_and_str_is_the_first_keys_message():
    # Mamba2Config's defaults: 128 heads of 64 = 8192 = expand 2 × hidden_size 4096; 100 heads make 6400
    with pytest.raises(KeyPairError) as e:
        parse({"architectures": ["Mamba2ForCausalLM"], "num_heads": 100})
    assert list(e.value.messages) == ["num_heads", "head_dim", "expand", "hidden_size"]
    assert str(e.value) == "num_heads: 100 heads of head_dim 64 must make expand × hidden_size (8192)"


# ---- vision towers: a top-level key against vision_config's ------------------------------------------------------

def test_internvl_image_size_set_is_at_the_set(capsys):
    # before: "workloads/internvl3_8b.yaml:21: downsample_ratio: 0.5 must be 1/n for an n dividing the 31-patch
    # grid": 434 / 14 = 31 patches a side, not a multiple of 1 / 0.5 = 2
    line = cli_error(capsys, ["info", "internvl3_8b", "--set", "workload.vision_config.image_size=434"])
    assert line.startswith("accelsim: error: --set: workload.vision_config.image_size: 434 breaks the patch grid "
                           "vision_config.image_size / vision_config.patch_size = 31, a multiple of 1 / "
                           "downsample_ratio = 2 (downsample_ratio 0.5, vision_config.patch_size 14, "), line
    assert _ends_naming(line, _at("internvl3_8b", "downsample_ratio"), _at("internvl3_8b", "patch_size", "  ")), line


def test_internvl_downsample_set_is_at_the_set(capsys):
    # before: "workloads/internvl3_8b.yaml:22: image_seq_length: 256 must be the 64 tokens a tile gives":
    # (448 / 14 · 0.25)² = 8² = 64
    line = cli_error(capsys, ["info", "internvl3_8b", "--set", "workload.downsample_ratio=0.25"])
    assert line.startswith("accelsim: error: --set: workload.downsample_ratio: 0.25 breaks image_seq_length = "), line
    assert "= (32 × 0.25)² = 64 (image_seq_length 256, vision_config.image_size 448, vision_config.patch_size 14, " \
           in line, line
    assert _ends_naming(line, _at("internvl3_8b", "image_seq_length"), _at("internvl3_8b", "image_size", "  "),
                        _at("internvl3_8b", "patch_size", "  ")), line


def test_gemma3_patch_size_set_is_at_the_set(capsys):
    # before: "workloads/gemma3_27b.yaml:21: mm_tokens_per_image: 256 must be a square whose side divides the 56×56
    # patch grid": 896 / 16 = 56, not a multiple of √256 = 16
    line = cli_error(capsys, ["info", "gemma3_27b", "--set", "workload.vision_config.patch_size=16"])
    assert line.startswith("accelsim: error: --set: workload.vision_config.patch_size: 16 breaks √mm_tokens_per_image "
                           "= 16 dividing the patch grid"), line
    assert _ends_naming(line, _at("gemma3_27b", "mm_tokens_per_image"), _at("gemma3_27b", "image_size", "  ")), line


def test_a_set_token_count_keeps_its_message_and_names_the_towers_lines(capsys):
    # the rule's first key set last: its message as before (225 = 15², 15 does not divide 896 / 14 = 64), then where
    # the image and patch sizes came from
    line = cli_error(capsys, ["info", "gemma3_27b", "--set", "workload.mm_tokens_per_image=225"])
    assert line.startswith("accelsim: error: --set: workload.mm_tokens_per_image: 225 must be a square whose side "
                           "divides the 64×64 patch grid (vision_config.image_size / vision_config.patch_size, "), line
    assert _ends_naming(line, _at("gemma3_27b", "image_size", "  "), _at("gemma3_27b", "patch_size", "  ")), line


# ---- the two-key rules these readers still raised as a plain ValueError at their first key -----------------------

@pytest.mark.parametrize("preset, key, value, start, other, indent", [
    # DeepSeek-V3.2: the indexer's 128-wide heads hold the 64 rotated features; 256 do not fit
    ("deepseek_v3_2", "qk_rope_head_dim", 256, "256 rotated features do not fit index_head_dim (128, ",
     "index_head_dim", ""),
    # Llama 4's projector takes vision_output_dim (4096) features
    ("llama4_scout", "vision_config.projector_output_dim", 5120, "5120 must equal vision_output_dim (4096, ",
     "vision_output_dim", "  "),
    # GLM-4.1V's 336-pixel position table: 336 = 22 · 15 + 6
    ("glm4_1v_9b", "vision_config.patch_size", 15, "15 must divide image_size (336, ", "image_size", "  "),
    # MiniMax-M2 rotates 64 features of each head: a head of 32 cannot hold them
    ("minimax_m2", "head_dim", 32, "32 breaks rotary_dim ≤ head_dim, 32 (rotary_dim 64, ", "rotary_dim", ""),
    # Phi-2: 0.4 of a 2528 / 32 = 79-wide head is int(31.6) = 31 features, odd
    ("phi_2", "hidden_size", 2528, "2528 breaks RoPE's even number of rotated features, at least 2: "
     "partial_rotary_factor × hidden_size / num_attention_heads = 0.4 × 79 gives 31 (partial_rotary_factor 0.4, "
     "num_attention_heads 32, ", "partial_rotary_factor", ""),
    # Qwen2.5-VL's 112-pixel windows: not a multiple of 14 × 3 = 42
    ("qwen2_5_vl_7b", "vision_config.spatial_merge_size", 3, "3 breaks window_size a multiple of spatial_patch_size "
     "× spatial_merge_size = 14 × 3 (window_size 112, spatial_patch_size 14, ", "spatial_patch_size", "  "),
])
def test_a_set_key_of_a_two_key_rule_is_at_the_set(capsys, preset, key, value, start, other, indent):
    line = cli_error(capsys, ["info", preset, "--set", f"workload.{key}={value}"])
    assert line.startswith(f"accelsim: error: --set: workload.{key}: {start}"), line
    assert f"workloads/{_at(preset, other, indent)}" in line, line  # from the root or by its full path


def test_olmoe_heads_set_over_a_config_json_is_at_the_set(here, capsys):
    # OLMoE-1B-7B (allenai/OLMoE-1B-7B-0924 config.json): hidden_size 2048 = 16 heads × head_dim 128; its q_norm is
    # hidden_size wide, so 8 heads (8 · 128 = 1024) break the rule, and the --set is the key set last
    config = {"architectures": ["OlmoeForCausalLM"], "vocab_size": 1000, "hidden_size": 2048,
              "num_attention_heads": 16, "head_dim": 128, "num_hidden_layers": 2, "num_experts": 4,
              "num_experts_per_tok": 2, "intermediate_size": 256}
    text = json.dumps(config, indent=1)
    Path("config.json").write_text(text)
    lines = {k: 1 + next(i for i, t in enumerate(text.splitlines()) if t.strip().startswith(f'"{k}":'))
             for k in config}
    Path("w.yaml").write_text("model: hf\nconfig: config.json\nseq_len: 16\n")
    line = cli_error(capsys, ["info", "w.yaml", "--set", "workload.num_attention_heads=8"])
    assert line == ("accelsim: error: --set: workload.num_attention_heads: 8 breaks head_dim × num_attention_heads = "
                    f"hidden_size (head_dim 128, hidden_size 2048, {here / 'config.json'}:{lines['head_dim']}, "
                    f"{here / 'config.json'}:{lines['hidden_size']})"), line
