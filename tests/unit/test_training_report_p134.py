"""What a training step's reports show (probe p134): the causal-attention note of a composed ``gpt`` step quotes the
step's own figures, ..."""

from __future__ import annotations

import pytest

from accelsim.api import simulate
from accelsim.config import load_arch, load_workload

# a small Megatron GPT whose fused causal attention skips blocks above the diagonal (seq_len 512 is several K/V
# blocks) and whose 4 layers are layer-sampled from 1- and 2-layer passes (options.layer_samples, the default)
TINY_GPT = {"model": "gpt", "hidden": 256, "heads": 4, "layers": 4, "seq_len": 512, "vocab": 1024, "batch": 2,
            "mode": "training", "attention": "fused"}


def _causal_note(report: dict) -> str:
    (note,) = [n for n in report["notes"] if n.startswith("causal attention")]
    return note


@pytest.mark.parametrize("micro_batches", [1, 2])
def test_a_gpt_steps_causal_note_quotes_the_steps_figures_not_a_stage_pass(micro_batches):
    # probe p134 #3: the note quoted the 2-layer one-micro-batch sample pass (10.6 T FLOPs, 95.9 %, 552.7 TFLOP/s)
    # where the report's fields give 70.8 T, 92.8 %, 533.1; with micro_batches 2 it was unchanged. Each figure is
    # the hand arithmetic of the report's own fields: computed_flops, computed / flops, computed / seconds and
    # flops / seconds (one stage: one chip)
    r = simulate(load_workload({**TINY_GPT, "micro_batches": micro_batches}), load_arch("h100")).to_dict()
    assert r["pipeline"]["layer_samples"] and r["pipeline"]["stages"] == 1
    flops, computed, seconds = r["flops"], r["computed_flops"], r["seconds"]
    assert computed < flops
    note = _causal_note(r)
    assert f"compute {computed:,} FLOPs" in note
    assert f"(computed_flops, {computed / flops:.1%} of flops)" in note
    assert f"{computed / seconds / 1e12:.4g} TFLOP/s (flops / seconds: {flops / seconds / 1e12:.4g})" in note


def test_a_two_stage_steps_causal_note_gives_a_chips_rate():
    # a pipeline report's FLOPs are its P stages' chips': the rate is a chip's, as the console's computed row says
    # (computed_flops / seconds / P)
    arch = load_arch("h100", ["chips=2", "interconnect.bandwidth=450GB/s"])
    r = simulate(load_workload({**TINY_GPT, "pipeline_parallel": 2}), arch).to_dict()
    flops, computed, seconds = r["flops"], r["computed_flops"], r["seconds"]
    note = _causal_note(r)
    assert f"compute {computed:,} FLOPs ({computed / flops:.1%} of flops)" in note.replace("(computed_flops, ", "(")
    assert (f"{computed / seconds / 2 / 1e12:.4g} TFLOP/s a chip (2 chips) (flops / seconds / 2: "
            f"{flops / seconds / 2 / 1e12:.4g})") in note
