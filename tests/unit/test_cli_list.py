"""``accelsim list``: each workload (every preset, then every builder without a preset file) with a one-line
description; arch and experiment presets one name per line."""

from __future__ import annotations

from accelsim.builders import BUILDERS
from accelsim.cli import main
from accelsim.config import list_presets
from accelsim.config import presets as presets_module


def _lines(capsys, *argv: str) -> list[str]:
    assert main(["list", *argv]) == 0
    return capsys.readouterr().out.splitlines()


def test_list_workloads_gives_every_workload_one_described_line(capsys):
    lines = _lines(capsys, "workloads")
    names = [line.split()[0] for line in lines]
    expected = list_presets("workloads") + sorted(set(BUILDERS) - set(list_presets("workloads")))
    assert names == expected
    described = dict(line.split(None, 1) for line in lines)
    assert all(text.strip() for text in described.values())
    # a builder's own preset: the registry's description; an hf preset: its header comment's first sentence
    assert described["resnet50"] == BUILDERS["resnet50"].description
    assert described["gemma2_9b"].startswith("Gemma 2 9B (local/global attention")
    assert described["onnx"].startswith(BUILDERS["onnx"].description) and "[builder" in described["onnx"]
    # the all-kinds view lists them too, indented under a header
    everything = _lines(capsys)
    assert any(line.startswith("workloads (") for line in everything)
    assert any(line.split()[:1] == ["resnet50"] and BUILDERS["resnet50"].description in line for line in everything)


def test_a_preset_description_key_wins_over_its_header_comment(capsys, tmp_path, monkeypatch):
    folder = tmp_path / "workloads"
    folder.mkdir()
    (folder / "mine.yaml").write_text("# Header comment sentence. More.\nmodel: lenet5\ndescription: My own LeNet\n")
    (folder / "theirs.yaml").write_text("# A LeNet for tests. Second sentence.\nmodel: lenet5\n")
    (folder / "broken.yaml").write_text("model: no_such_builder\n")
    monkeypatch.setattr(presets_module, "preset_dir", lambda kind: folder)
    described = dict(line.split(None, 1) for line in _lines(capsys, "workloads"))
    assert described["mine"] == "My own LeNet"
    assert described["theirs"] == "A LeNet for tests."
    assert described["broken"].startswith("(invalid preset:")


def test_list_arch_stays_one_name_per_line(capsys):
    assert _lines(capsys, "arch") == list_presets("arch")


def test_list_hf_gives_the_architectures_the_hf_builder_reads(capsys):
    from accelsim.builders.hfconfig import READERS

    lines = _lines(capsys, "hf")
    names = [ln.split()[0] for ln in lines]
    assert names == list(READERS) and {"LlamaForCausalLM", "GPTNeoXForCausalLM", "Olmo2ForCausalLM"} <= set(names)
    # each with the model_type transformers builds it for (models/auto/modeling_auto.py): a config without
    # architectures is read by it; trust_remote_code's PhiMoEForCausalLM has none
    types = {ln.split()[0]: ln.split()[1:] for ln in lines}
    assert types["GPTNeoXForCausalLM"] == ["gpt_neox"] and types["Olmo2ForCausalLM"] == ["olmo2"]
    assert types["Gemma3ForConditionalGeneration"] == ["gemma3"] and types["PhiMoEForCausalLM"] == []


def test_the_all_kinds_view_piped_keeps_each_kind_on_one_line(capsys):
    # stdout not a terminal (captured, as `accelsim list | cat`): each kind's names on its one line, not wrapped
    # at rich's default 80 columns
    everything = _lines(capsys)
    # experiments and sweeps apart (probe p75 #2: sweeps were listed as experiments, which `run` and `base:` take):
    # a sweep preset is one with grid: or zip:, its name ending _sweep in the shipped set
    every = list_presets("experiments")
    sweeps = [n for n in every if n.endswith("_sweep")]
    for kind, names in (("arch", list_presets("arch")), ("experiments", [n for n in every if n not in sweeps]),
                        ("sweeps", sweeps)):
        (line,) = [ln for ln in everything if ln.startswith(f"{kind} (")]
        assert line == f"{kind} ({len(names)}): " + ", ".join(names)
        assert len(line) > 80
