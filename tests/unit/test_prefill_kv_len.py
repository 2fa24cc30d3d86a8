"""An encoder-decoder's prefill refuses a ``kv_len`` it does not read (probe p168 #3): Whisper's, T5's and
transformer_base's prefill start the decoder prompt at position 0 with an empty self-attention cache, so
``kv_len: 100`` used to give the same graph as without it, silently. Another value than the default (1) or the
prompt's tokens (where the run's decode steps start) is now one line naming the key, exit status 2."""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.cli import main


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    return err


@pytest.mark.parametrize(("model", "sets", "prompt"), [
    ("whisper_base", ["seq_len=4", "kv_len=100"], "seq_len 4"),
    ("t5_small", ["tgt_len=4", "kv_len=100"], "tgt_len 4"),
    ("transformer_base", ["kv_len=100"], "tgt_len 128"),  # its preset's tgt_len
])
def test_a_prefill_refuses_kv_len_at_the_key(capsys, model, sets, prompt):
    assert main(["info", model, *[a for s in sets for a in ("--set", f"workload.{s}")]]) == 2
    assert _err(capsys).startswith(f"accelsim: error: --set: workload.kv_len: not read by phase: prefill (its "
                                   f"decoder prompt of {prompt} tokens starts at position 0")


def test_an_experiment_files_kv_len_line_is_named(tmp_path, capsys):
    exp = tmp_path / "exp.yaml"  # line 1 name, 2 workload, 3 model, 4 seq_len, 5 kv_len
    exp.write_text("name: bad\nworkload:\n  model: whisper_base\n  seq_len: 4\n  kv_len: 100\narch: h100\n")
    assert main(["run", str(exp), "-o", str(tmp_path / "out"), "-q", "--no-plots"]) == 2
    assert _err(capsys).startswith(f"accelsim: error: {exp}:5: workload.kv_len: not read by phase: prefill")


@pytest.mark.parametrize(("model", "prompt_key"), [("whisper_base", "seq_len"), ("t5_small", "tgt_len")])
def test_the_default_or_the_prompt_is_accepted_and_decode_reads_kv_len(model, prompt_key):
    base = build_workload(model, {prompt_key: 4})
    # kv_len 1 (the default) or 4 (= the prompt, where decode_steps start) builds the same prefill
    assert build_workload(model, {prompt_key: 4, "kv_len": 4}).macs == base.macs
    # a decode step reads kv_len: each of the 6 decoder layers' self-attention scores and context (8 heads × 64 =
    # 512 wide in both models) take 2 × 512 MACs a cached key, so 100 cached tokens cost 6 × 2 × 512 × 96 more than 4
    step = {k: build_workload(model, {"phase": "decode", "kv_len": k}).macs for k in (4, 100)}
    assert step[100] - step[4] == 6 * 2 * 512 * (100 - 4) == 589_824
