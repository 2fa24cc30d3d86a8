"""Probe p198: the length key a pass does not read (``kv_len`` in a prefill, ``seq_len`` in a decode step) is
listed in report.json's ``workload.unread`` with a note (#1); the context note derives the context from
``rope_scaling`` as vLLM's ``_get_and_verify_max_len`` does (#2); a bad ``rope_scaling`` given by ``--set`` is
named at the ``--set`` (#3); a ``rope_scaling`` missing the keys transformers' ``rope_config_validation`` requires
is refused (#4)."""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.builders.hf import scaled_context
from accelsim.cli import main
from accelsim.config import load_workload


def _graph(name: str, **params):
    w = load_workload(name)
    return build_workload(w.model, {**w.params, "layers": 1, **params})


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


# ---- #1: the key the pass does not read ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["llama3_8b", "llama2_7b"])
def test_a_prefills_kv_len_is_unread_and_noted(name):
    g = _graph(name, seq_len=4096, kv_len=28672)
    assert "kv_len" in g.meta["unread_params"]
    notes = [n for n in g.meta.get("notes", ()) if "kv_len 28,672 is not read by a prefill" in n]
    assert len(notes) == 1 and "seq_len 4,096 tokens from position 0" in notes[0]
    # still not read: the prefill's work is the same as with the default kv_len (no cache: the 4,096 prompt tokens
    # alone; using the cache would add 2 × 32 × 128 × 4096 × 28672 attention MACs a layer, the probe's 9.62e11)
    assert g.macs == _graph(name, seq_len=4096).macs


@pytest.mark.parametrize("name", ["llama3_8b", "llama2_7b"])
def test_a_decodes_seq_len_is_unread_and_noted(name):
    g = _graph(name, phase="decode", seq_len=32768)
    assert "seq_len" in g.meta["unread_params"] and "kv_len" not in g.meta["unread_params"]
    assert any("seq_len 32,768 is not read by a decode step" in n and "after kv_len 512 cached tokens" in n
               for n in g.meta.get("notes", ()))
    assert g.macs == _graph(name, phase="decode").macs  # the default kv_len 512's step


@pytest.mark.parametrize("params", [
    {},  # the presets' seq_len 512 / kv_len 512: the defaults
    {"seq_len": 4096, "kv_len": 4096},  # a serving run's prefill: its decode steps start at kv_len = seq_len
    {"seq_len": 4096, "decode_steps": 3},  # the preset's kv_len, at its default
    # a serving run's decode step i after a 4,096-token prefill (scenarios.serving.serve's step: seq_len kept,
    # kv_len = 4096 + i), and accelsim serve's decode shapes beside a model's seq_len
    {"phase": "decode", "seq_len": 4096, "kv_len": 4096},
    {"phase": "decode", "seq_len": 4096, "kv_len": 4099},
    {"phase": "decode", "seq_len": 100, "kv_len": 4096},
])
def test_no_note_where_the_values_agree_with_the_pass(params):
    g = _graph("llama3_8b", **params)
    assert not [n for n in g.meta.get("notes", ()) if "is not read by" in n]
    # the key is unread all the same (report.json lists it)
    assert ("seq_len" if params.get("phase") == "decode" else "kv_len") in g.meta["unread_params"]


def test_gpt2_lists_the_unread_key_and_gpt_reads_seq_len_in_decode():
    g = _graph("gpt2", seq_len=256, kv_len=700)  # gpt2's default kv_len is 1023
    assert g.meta["unread_params"] == ["kv_len"]
    assert any("kv_len 700 is not read by a prefill" in n for n in g.meta["notes"])
    # Megatron GPT's decode step sizes its position table by seq_len (max_positions 0): read
    gpt = build_workload("gpt", {"phase": "decode", "layers": 2, "hidden": 256, "heads": 4, "seq_len": 4096})
    assert "seq_len" not in gpt.meta["unread_params"]


def test_the_run_report_lists_and_notes_the_key(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", "-w", "llama3_8b", "-a", "h100", "--set", "workload.layers=1", "--set",
                 "workload.seq_len=4096", "--set", "workload.kv_len=28672", "--no-plots", "-q", "-o", str(out)]) == 0
    import json

    report = json.loads((out / "report.json").read_text())
    assert report["workload"]["unread"][0] == "kv_len"
    assert any(n.startswith("llama3_8b: kv_len 28,672 is not read by a prefill") for n in report["notes"])


# ---- #2: the context RoPE scaling gives ---------------------------------------------------------------------
@pytest.mark.parametrize(("fields", "context"), [
    ({"max_position_embeddings": 8192}, 8192),
    # vLLM vllm/config.py _get_and_verify_max_len: yarn from original_max_position_embeddings, 8192 × 4 = 32768
    ({"max_position_embeddings": 8192,
      "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8192}}, 32768),
    ({"max_position_embeddings": 4096,  # 2048 × 8 = 16384, not 4096 × 8
      "rope_scaling": {"type": "yarn", "factor": 8, "original_max_position_embeddings": 2048}}, 16384),
    ({"max_position_embeddings": 8192, "rope_scaling": {"rope_type": "linear", "factor": 4.0}}, 32768),
    ({"max_position_embeddings": 4096, "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}, 8192),
    # llama3 / longrope / su: max_position_embeddings is already the scaled context (Llama 3.1's 131072)
    ({"max_position_embeddings": 131072, "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
                                                          "original_max_position_embeddings": 8192,
                                                          "low_freq_factor": 1.0, "high_freq_factor": 4.0}}, 131072),
    ({"max_position_embeddings": 131072, "rope_scaling": {"rope_type": "longrope", "short_factor": [1.0],
                                                          "long_factor": [1.0]}}, 131072),
    # "default" has no factor: 1.0
    ({"max_position_embeddings": 128000, "rope_scaling": {"rope_type": "default", "mrope_section": [16, 24, 24]}},
     128000),
    # Gemma 3's 131072 is already scaled (later vLLM skips model types with "gemma3")
    ({"max_position_embeddings": 131072, "architectures": ["Gemma3ForCausalLM"],
      "rope_scaling": {"rope_type": "linear", "factor": 8.0}}, 131072),
])
def test_scaled_context_as_vllm_derives_it(fields, context):
    assert scaled_context(fields)[0] == context


def test_the_context_note_uses_the_scaled_context():
    yarn = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8192}
    # a decode step after 32,767 cached tokens reaches position 32,768: inside 8192 × 4
    g = _graph("llama3_8b", phase="decode", kv_len=32767, rope_scaling=yarn)
    assert not [n for n in g.meta.get("notes", ()) if "exceed the model's" in n]
    g = _graph("llama3_8b", phase="decode", kv_len=32768, rope_scaling=yarn)
    note = next(n for n in g.meta["notes"] if "exceed the model's" in n)
    assert note.startswith("llama3_8b: positions up to 32,769 exceed the model's 32,768-token context "
                           "(max_position_embeddings) scaled by its rope_scaling (yarn, "
                           "original_max_position_embeddings 8,192 × factor 4.0")
    # without rope_scaling: the 8,192 of max_position_embeddings
    g = _graph("llama3_8b", phase="decode", kv_len=32767)
    assert any("exceed the model's 8,192-token context (max_position_embeddings): " in n for n in g.meta["notes"])


# ---- #3, #4: rope_scaling's errors ----------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "says"), [
    ("{rope_type: bogus, factor: 2.0}", "--set: workload.rope_scaling.rope_type: 'bogus' is not a known RoPE "
                                        "scaling"),
    # transformers' _validate_linear_scaling_rope_parameters: required_keys = {"rope_type", "factor"}
    ("{rope_type: linear}", "--set: workload.rope_scaling.factor: missing: rope_type 'linear' needs factor"),
    ("{type: dynamic}", "--set: workload.rope_scaling.factor: missing: rope_type 'dynamic' needs factor"),
    ("{rope_type: yarn, original_max_position_embeddings: 8192}",
     "--set: workload.rope_scaling.factor: missing: rope_type 'yarn' needs factor"),
    # _validate_longrope_parameters: {"rope_type", "short_factor", "long_factor"}
    ("{rope_type: longrope, short_factor: [1.0]}",
     "--set: workload.rope_scaling.long_factor: missing: rope_type 'longrope' needs short_factor, long_factor"),
    # _validate_llama3_parameters: {"rope_type", "factor", "original_max_position_embeddings", "low_freq_factor",
    # "high_freq_factor"}
    ("{rope_type: llama3, factor: 8.0}",
     "--set: workload.rope_scaling.original_max_position_embeddings: missing: rope_type 'llama3' needs factor, "
     "original_max_position_embeddings, low_freq_factor, high_freq_factor (transformers' rope_config_validation "
     "refuses it without original_max_position_embeddings, low_freq_factor, high_freq_factor)"),
])
def test_a_bad_rope_scaling_is_one_line_at_the_set(capsys, value, says):
    assert main(["info", "llama3_8b", "--set", f"workload.rope_scaling={value}"]) == 2
    assert _one_line(capsys).startswith(f"accelsim: error: {says}")


@pytest.mark.parametrize("value", [
    "{rope_type: linear, factor: 2.0}", "{rope_type: default}",
    "{rope_type: llama3, factor: 8.0, original_max_position_embeddings: 8192, low_freq_factor: 1.0, "
    "high_freq_factor: 4.0}",
])
def test_a_complete_rope_scaling_is_taken(capsys, value):
    assert main(["info", "llama3_8b", "--set", f"workload.rope_scaling={value}"]) == 0


# ---- #5: the sliding window's skip named beside the causal one -----------------------------------------------
def test_a_sliding_windows_skip_is_named_with_the_attention_share(tmp_path):
    import json

    out = tmp_path / "mi"
    assert main(["run", "-w", "mistral_7b", "-a", "h100", "--set", "workload.layers=1", "--set",
                 "workload.seq_len=32768", "--set", "workload.attention=fused", "--no-plots", "-q", "-o",
                 str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    note = next(n for n in report["notes"] if n.startswith("causal attention: flops and macs count"))
    assert "skip the blocks above the diagonal and those outside the sliding window of 4,096 keys" in note
    # the attention op's full square: 2 × (QKᵀ + PV) MACs = 2 × 2 × 32 heads × 128 × 32768² FLOPs, plus the
    # softmax's per-score FLOPs; its computed share is the window's band, (4096 · 32768 − 4096²/2) / 32768² =
    # 125,829,120 / 1,073,741,824 = 11.72 %, plus the 128-key blocks the band's edges cut: at most 33 key blocks of
    # 128 for each of the 256 query blocks, 33 · 128² · 256 / 32768² = 12.89 %
    share = float(note.split("% of flops; the attention ops ")[1].split(", ")[1].rstrip("%")) / 100
    assert 125_829_120 / 1_073_741_824 <= share <= 33 * 128 * 128 * 256 / 32768**2


def test_a_causal_run_without_a_window_reads_as_before(tmp_path):
    import json

    out = tmp_path / "l3"
    assert main(["run", "-w", "llama3_8b", "-a", "h100", "--set", "workload.layers=1", "--set",
                 "workload.seq_len=4096", "--set", "workload.attention=fused", "--no-plots", "-q", "-o",
                 str(out)]) == 0
    note = next(n for n in json.loads((out / "report.json").read_text())["notes"] if n.startswith("causal"))
    assert "the fused kernels skip the blocks above the diagonal and compute " in note
    assert "sliding window" not in note and "the attention ops" not in note
