"""Probe p96 #3: one --set that breaks two rules between keys of a Hugging Face config gets both problems at the
--set, one line each, exit 2 (the first was put at the preset's line of the other key, which the user never touched).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accelsim.cli import main

WORKLOADS = Path(__file__).resolve().parents[2] / "workloads"


def _errors(capsys, argv: list[str]) -> list[str]:
    assert main(argv) == 2
    return capsys.readouterr().err.strip().splitlines()


def _preset_line(preset: str, key: str) -> int:
    """The 1-based line of ``key:`` in a shipped preset (read from the file, not copied from the output)."""
    text = (WORKLOADS / f"{preset}.yaml").read_text().splitlines()
    return 1 + next(i for i, t in enumerate(text) if t.startswith(f"{key}:"))


@pytest.mark.parametrize("preset, heads", [("llama3_8b", 20), ("mixtral_8x7b", 30)])
def test_a_set_heads_count_breaking_two_rules_is_at_the_set_twice(capsys, preset, heads):
    # both presets: hidden_size 4096, 8 KV heads. 20 = 2 · 8 + 4 and 30 = 3 · 8 + 6 are no multiples of 8, and
    # 4096 = 2^12 has no factor 5 (20 = 4 · 5) nor 3 or 5 (30 = 2 · 3 · 5): both rules broken, by the --set alone
    assert heads % 8 and 4096 % heads
    at = _preset_line(preset, "num_key_value_heads")
    lines = _errors(capsys, ["info", preset, "--set", f"workload.num_attention_heads={heads}"])
    assert lines == [
        f"accelsim: error: --set: workload.num_attention_heads: {heads} is not a multiple of num_key_value_heads "
        f"(8, workloads/{preset}.yaml:{at})",
        f"accelsim: error: --set: workload.num_attention_heads: {heads} must divide hidden_size (4096)"], lines


def test_a_users_file_over_its_base_gets_both_at_its_own_line(capsys, tmp_path, monkeypatch):
    # a file naming the preset as its base: its own line (2) is set after the preset's, so both problems are there
    monkeypatch.chdir(tmp_path)
    Path("my.yaml").write_text("base: llama3_8b\nnum_attention_heads: 20\n")
    lines = _errors(capsys, ["info", "-w", "my.yaml"])
    assert [line.split(": num_attention_heads: ")[0] for line in lines] == ["accelsim: error: my.yaml:2"] * 2, lines
    # a --set of the KV heads over that file: the KV rule (3 does not divide 20) is the --set's, hidden_size's rule
    # (20 does not divide 4096) the file's
    lines = _errors(capsys, ["info", "-w", "my.yaml", "--set", "workload.num_key_value_heads=3"])
    assert lines == ["accelsim: error: --set: workload.num_key_value_heads: 3 must divide num_attention_heads (20)",
                     "accelsim: error: my.yaml:2: num_attention_heads: 20 must divide hidden_size (4096)"], lines


def test_a_set_over_a_config_json_names_the_files_line(capsys, tmp_path, monkeypatch):
    # the config.json holds the KV heads and hidden_size; the --set of the query heads breaks both rules: both at
    # the --set, the first naming the file's line of the KV heads (found in the file as written)
    monkeypatch.chdir(tmp_path)
    cfg = {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
           "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 2, "vocab_size": 1000}
    Path("config.json").write_text(json.dumps(cfg, indent=2))
    text = Path("config.json").read_text().splitlines()
    at = 1 + next(i for i, t in enumerate(text) if t.strip().startswith('"num_key_value_heads"'))
    lines = _errors(capsys, ["info", "-w", "hf", "--set", "workload.config=config.json",
                             "--set", "workload.num_attention_heads=20"])
    assert lines == [
        "accelsim: error: --set: workload.num_attention_heads: 20 is not a multiple of num_key_value_heads "
        f"(8, config.json:{at})",
        "accelsim: error: --set: workload.num_attention_heads: 20 must divide hidden_size (4096)"], lines


def test_a_pair_beside_another_problem_keeps_both(capsys):
    # a misspelt field beside the broken rules: every problem one line, the rules at the --set that broke them
    lines = _errors(capsys, ["info", "llama3_8b", "--set", "workload.num_attention_heads=20",
                             "--set", "workload.rope_scalingg=1"])
    assert len(lines) == 3 and all(line.startswith("accelsim: error: --set: workload.") for line in lines), lines
    assert any("rope_scalingg" in line and "did you mean 'rope_scaling'" in line for line in lines), lines
