"""A composed run's notes that quote one pass's figures say whose they are (probe p86 #2): a serving run with
decode steps and a diffusion pipeline copy their passes' notes, and the split-activation note's "of the run's N B of
hbm bytes" was one pass's N in a run that moved hundreds of times more (:func:`accelsim.report.summary.pass_notes`,
:func:`accelsim.scenarios.sampling.pass_name`)."""

from __future__ import annotations

import re

import pytest

from accelsim import simulate
from accelsim.config import load_workload
from accelsim.report.summary import pass_notes

SPLIT = re.compile(r"^activations: \d+ outputs of ops split over several cores .* of (the [a-z_ ]+?)'s (\d+) B ")


def test_pass_notes_names_the_pass_only_in_notes_quoting_its_figures():
    notes = ["activations: 3 outputs of ops split over several cores (1 B in all) went to hbm and back, as such ops "
             "write it for their readers: about 2 B written and read (from their sizes), of the run's 4 B of hbm bytes",
             "depthwise convs: 1 op ran per channel; they took 50% of the run (5 of 10 cycles) for 1.0% of its MACs",
             "weight preload: 2 ops took 60% of the run; the run is bound by loading the arrays",
             "kernel launches bind 49% of the run (execution: eager)"]  # recomputed on the composed run: kept
    out = pass_notes(notes, "the prefill pass")
    assert out[0].endswith("of the prefill pass's 4 B of hbm bytes")
    assert "took 50% of the prefill pass (5 of 10 cycles)" in out[1]
    assert out[2] == "weight preload: 2 ops took 60% of the prefill pass; the prefill pass is bound by loading the arrays"
    assert out[3] == notes[3]
    assert pass_notes(notes[3:], "the unet pass") == notes[3:]


def test_serving_run_split_note_is_the_prefill_samples():
    # LLaMA-2-7B prefill of 256 tokens + 2 decode steps on TPU v4 (2 cores): its prefill's 28 outputs of ops split
    # over the cores spill; the note is the simulated prefill pass's (a 2-layer sample under layer_samples), whose
    # hbm bytes are a small part of the run's (32 layers, then the decode steps' weight streaming)
    rep = simulate(load_workload("llama2_7b", ["phase=prefill", "seq_len=256", "decode_steps=2"]), "tpu-v4").to_dict()
    assert rep["serving"]["layer_samples"] == [1, 2]
    found = [m for m in map(SPLIT.match, rep["notes"]) if m]
    assert len(found) == 1
    assert found[0].group(1) == "the sampled prefill pass"
    # the run's hbm bytes hold 32 layers' weights (7B params x 2 B > 13 GB) for the prefill and each decode step:
    # more than 3 x 13e9; a 2-layer sample's are a fraction of that
    assert rep["bytes"]["hbm"] > 3 * 13e9 > 10 * int(found[0].group(2))
    assert not any("of the run's" in n for n in rep["notes"] if n.startswith("activations: "))


@pytest.fixture(scope="module")
def sd15() -> dict:
    # Stable Diffusion 1.5 with 2 denoising steps on TPU v4 (2 cores): the UNet runs 3 times (PNDM's steps + 1
    # timesteps), the text encoder and the VAE decoder once; each part's split outputs spill
    return simulate(load_workload("sd15", ["steps=2"]), "tpu-v4").to_dict()


def test_diffusion_split_notes_quote_one_execution_of_their_part(sd15):
    counts = {p["part"]: p["count"] for p in sd15["diffusion"]["parts"]}
    assert counts["unet"] == 3
    by_part: dict[str, int] = {}
    for op in sd15["ops"]:
        by_part[op["phase"]] = by_part.get(op["phase"], 0) + int(op["bytes"].get("hbm", 0))
    assert sum(by_part.values()) == sd15["bytes"]["hbm"]
    found = {m.group(1): int(m.group(2)) for m in map(SPLIT.match, sd15["notes"]) if m}
    # the safety checker's too (since probe p251 #1 sd15's pipeline runs diffusers' safety checker after the VAE decoder, as StableDiffusionPipeline does by default: probe p251 #1)
    assert set(found) == {"the unet pass", "the vae_decoder pass", "the safety_checker pass"}
    # each note's bytes are one execution of its part: its rows' bytes (all its executions) over its count, not
    # the run's (the UNet's three passes, the VAE's and the text encoder's together)
    for whose, quoted in found.items():
        part = whose.removeprefix("the ").removesuffix(" pass")
        assert quoted * counts[part] == by_part[part]
        assert quoted < sd15["bytes"]["hbm"]
