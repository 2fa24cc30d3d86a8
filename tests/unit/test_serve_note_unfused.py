"""A served model's attention: fused by default on every arch (a TPU's too, though the preset writes
``attention: unfused``), and where the serving file or a ``--set`` asks for unfused attention, a note in the
report saying so and naming where it came from, as ``accelsim run``'s report notes unfused attention on every arch."""

from __future__ import annotations

from pathlib import Path

import yaml

from accelsim.config.serving import load_serving
from accelsim.serving import _prepare

WORKLOADS = Path(__file__).resolve().parents[2] / "workloads"


def _doc(model: object, arch: str = "tpu-v6e") -> dict:
    return {"name": "t", "model": model, "arch": arch,
            "engine": {"max_num_seqs": 8, "max_num_batched_tokens": 256, "max_model_len": 512, "block_size": 16},
            "workload": {"arrival": {"process": "constant", "rate": 1}, "prompt_tokens": {"dist": "fixed", "value": 100},
                         "output_tokens": {"dist": "fixed", "value": 4}, "requests": 3}}


def _attention_notes(notes: list[str]) -> list[str]:
    return [n for n in notes if "attention: unfused" in n]


def test_a_tpu_serving_run_with_no_attention_key_runs_fused_and_says_nothing():
    # the preset's own line is the eager default of `accelsim run`, which serving does not take
    assert yaml.safe_load((WORKLOADS / "llama2_7b.yaml").read_text())["attention"] == "unfused"
    spec = load_serving(_doc("llama2_7b"))
    assert spec.model.params["attention"] == "fused"
    assert _attention_notes(_prepare(spec).notes) == []


def test_a_set_unfused_attention_on_a_tpu_gets_the_note():
    spec = load_serving(_doc("llama2_7b"), ["model.attention=unfused"])
    assert spec.model.params["attention"] == "unfused"
    (note,) = _attention_notes(_prepare(spec).notes)
    assert note.startswith("model.attention: unfused (--set): "), note
    assert "Pallas" in note and "arch 'tpu-v6e' models" in note, note
    assert note.endswith("leave model.attention out, or --set model.attention=fused"), note


def test_the_serving_files_unfused_attention_is_named_at_its_line(tmp_path):
    doc = _doc({"base": "llama2_7b", "attention": "unfused"}, arch="h100")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    line = 1 + next(i for i, t in enumerate(path.read_text().splitlines()) if t.strip().startswith("attention:"))
    (note,) = _attention_notes(_prepare(load_serving(path)).notes)
    assert note.startswith("model.attention: unfused (") and f"s.yaml:{line}): " in note, note
    assert "FlashAttention" in note and "arch 'h100' models" in note, note
