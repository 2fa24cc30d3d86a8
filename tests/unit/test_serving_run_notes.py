"""A serving run (``accelsim run`` with ``decode_steps``) carries the notes of every pass it simulated, each once,
a figure that grows from step to step quoted at the last step (probe p231 #3: a prompt of 8,192 tokens and 4 decode
steps reached position 8,196 of llama3_8b's 8,192-token context with no note; one of 32,768 tokens and 1,000 steps
noted "positions up to 32,768", the prefill's, where the cache held 33,768 tokens)."""

from __future__ import annotations

import re
from types import SimpleNamespace

from accelsim import simulate
from accelsim.config import load_workload
from accelsim.scenarios.serving import run_notes

# Meta-Llama-3-8B's config.json: max_position_embeddings 8192
CONTEXT = re.compile(r"^llama3_8b: positions up to ([\d,]+) exceed the model's 8,192-token context")


def _context(model: str, sets: list[str]) -> list[int]:
    rep = simulate(load_workload(model, ["attention=fused", *sets]), "h100").to_dict()
    return [int(m.group(1).replace(",", "")) for m in map(CONTEXT.match, rep["notes"]) if m]


def test_decode_steps_past_the_context_get_the_note_of_the_last_position():
    # a prompt of 8,190 tokens fits the context (no note from the prefill); 4 decode steps feed positions 8,191 ...
    # 8,194 (1-based: the step after s cached tokens is position s + 1), so the run reaches 8,190 + 4 = 8,194
    assert _context("llama3_8b", ["seq_len=8190", "decode_steps=4"]) == [8190 + 4]
    # the prompt alone fills the context exactly (8,192 <= 8,192): the 4 steps take it to 8,196 (the finding's run)
    assert _context("llama3_8b", ["seq_len=8192", "decode_steps=4"]) == [8192 + 4]


def test_a_prompt_past_the_context_is_noted_once_at_the_run_s_last_position():
    # the prefill's own note says 8,200; the run's says 8,200 + 3 = 8,203, one line, not one per pass
    assert _context("llama3_8b", ["seq_len=8200", "decode_steps=3"]) == [8200 + 3]


def test_interpolated_steps_still_quote_the_last_one():
    # 20 steps with 4 simulated (the first and last among them): the last step, position 8,190 + 20, is simulated
    rep = simulate(load_workload("llama3_8b", ["attention=fused", "seq_len=8190", "decode_steps=20"]), "h100",
                   options={"decode_samples": 4}).to_dict()
    assert len(rep["serving"]["decode_steps_simulated"]) < 20
    found = [m.group(1) for m in map(CONTEXT.match, rep["notes"]) if m]
    assert found == ["8,210"]


def _pass(*notes: str) -> SimpleNamespace:
    """A pass as :func:`run_notes` reads it: its report's notes, an empty footprint (no spill notes), not sampled."""
    timing = SimpleNamespace(memory={}, held={}, offload={})
    return SimpleNamespace(shown=SimpleNamespace(report={"notes": list(notes)}, timing=timing), sampled=False)


def test_run_notes_merge_by_shape_and_name_differing_op_counts():
    prefill = _pass("model: positions up to 9,000 exceed", "plain note", "3 op(s) of dtype x run slowly",
                    "layer 1 is odd", "layer 2 is odd")
    steps = [_pass("model: positions up to 9,001 exceed", "2 op(s) of dtype x run slowly", "decode only 1"),
             _pass("model: positions up to 9,002 exceed", "2 op(s) of dtype x run slowly", "decode only 2")]
    assert run_notes(prefill, steps, 2) == [
        "model: positions up to 9,002 exceed",  # the last step's figure, where the prefill's note stood
        "plain note",
        "3 op(s) in the prefill pass of dtype x run slowly",  # the counts differ: each names its pass
        "2 op(s) in each of the 2 decode passes of dtype x run slowly",
        "layer 1 is odd", "layer 2 is odd",  # two notes of one pass alike but for a figure are both kept
        "decode only 2",
    ]
    # a note the passes give alike is said once; without a prefill, the decode steps' alone
    assert run_notes(_pass("same 1"), [_pass("same 1")], 1) == ["same 1"]
    assert run_notes(None, steps, 2) == ["model: positions up to 9,002 exceed", "2 op(s) of dtype x run slowly",
                                         "decode only 2"]
