"""Probe p90: what the reports add up around expert parallelism. An MoE's expert_parallel chips each route a batch
of their own, as the simulated chip does (docs/configuration.md), so they are working chips of one replica."""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.config import load_workload
from accelsim.sweep.store import metrics_from_report

# Mixtral-8x7B, 2 of its 32 layers, one decode step at 256 cached tokens (the probe's mixexp.yaml)
MIX = ["phase=decode", "kv_len=256", "attention=fused", "layers=2"]


def _run(chips: int, tp: int, ep: int, batch: int = 1) -> dict:
    work = load_workload("mixtral_8x7b", [*MIX, f"tensor_parallel={tp}", f"expert_parallel={ep}", f"batch={batch}"])
    return simulate(work, {"base": "dgx-h100", "chips": chips}, plots=False).to_dict()


def _chip_notes(rep: dict) -> list[str]:
    return [n for n in rep["notes"] if n.startswith("chips:")]


def test_the_sweeps_system_energy_counts_every_expert_parallel_chip():
    # p90 #1: EP 8 on a DGX H100's 8 chips: every chip holds 1 of the 8 experts and routes a batch of its own, doing
    # the simulated chip's work, so the system's energy is 8 x the one chip's report (power.chips 1), no chip idle
    # (before: 1 x energy + 7 idle chips' static energy, 0.586 J against 8 x 0.2817 = 2.25 J)
    ep8 = _run(8, 1, 8)
    assert ep8["power"]["chips"] == 1
    assert metrics_from_report(ep8)["system_energy_j"] == pytest.approx(8 * ep8["energy"]["total_j"], rel=1e-12)
    # TP 4 x EP 2 = 8 working chips on 12: 8 x the chip's energy plus the 4 idle chips' static power over the run
    mixed = _run(12, 4, 2)
    idle = 4 * mixed["power"]["static_w"] * mixed["seconds"]
    assert metrics_from_report(mixed)["system_energy_j"] == pytest.approx(8 * mixed["energy"]["total_j"] + idle,
                                                                           rel=1e-12)


def test_the_idle_chip_notes_count_the_expert_parallel_chips():
    # p90 #2: a replica is tensor_parallel x expert_parallel chips (as the refusal of TP 8 x EP 2 on 8 chips counts
    # them). TP 4 x EP 2 = 8: on 8 chips nothing is idle (before: "4 of the arch's 8 chips (chips 4-7) are idle")
    assert _chip_notes(_run(8, 4, 2)) == []
    # on 12 chips: one replica of 8 (chips 0-7), chips 8-11 left over, and no second replica (before: "8 of the
    # arch's 12 chips (chips 4-11) are idle ... the other 2 replica(s)")
    (left,) = _chip_notes(_run(12, 4, 2))
    assert left.startswith("chips: 4 of the arch's 12 chips (chips 8-11) are idle: a replica takes "
                           "tensor_parallel x context_parallel x expert_parallel x pipeline_parallel = 8 chips")
    # EP 4 at TP 1 on 8 chips: a replica of 4 (chips 0-3) and a second one idle, chips 4-7 (before: no line, the
    # replica counted as 1 chip)
    (spare,) = _chip_notes(_run(8, 1, 4))
    assert spare.startswith("chips: 4 of the arch's 8 chips (chips 4-7) are idle: this inference runs one replica "
                            "of tensor_parallel x context_parallel x expert_parallel x pipeline_parallel = 4 chips")
    assert "the other 1 replica(s)" in spare and "expert_parallel to use them" in spare


# Mixtral at expert_parallel 8 on a DGX H100, 4 of its layers, a 64-token prefill and 3 decode steps: layer-sampled
# (options.layer_samples, the default: layers 1 and 2 simulated, the first counted 3 times) and in full
SERVE = ["expert_parallel=8", "seq_len=64", "decode_steps=3", "attention=fused", "layers=4"]


@pytest.fixture(scope="module")
def served() -> dict[bool, dict]:
    return {samples: simulate(load_workload("mixtral_8x7b", SERVE), "dgx-h100", plots=False,
                              layer_samples=samples).to_dict() for samples in (True, False)}


def _console(rep: dict) -> str:
    import io

    from rich.console import Console

    from accelsim.report.console import summary_table

    out = io.StringIO()
    Console(file=out, width=400).print(summary_table(rep))
    return out.getvalue()


def test_serving_tokens_per_s_is_the_expert_parallel_replicas(served):
    # p90 #3: each of the 8 expert-parallel ranks decodes its own batch of 1 (the routing sees batch x EP = 8 tokens
    # a step: moe.decode_step.tokens), so the replica makes 8 tokens a step: tokens_per_s = 1 x 8 x 3 steps / the
    # decode seconds (before: 1 x 3 / the decode seconds, one rank's, 8x below)
    rep = served[True]
    s = rep["serving"]
    assert s["batch"] == 1 and rep["moe"]["decode_step"]["tokens"] == 1 * 8
    decode_s = s["decode_cycles"] / rep["clock_hz"]
    assert s["tokens_per_s"] == pytest.approx(1 * 8 * 3 / decode_s, rel=1e-12)
    assert s["tokens_per_s"] == pytest.approx(8 / s["tpot_s"], rel=1e-12)
    # J/token keeps counting one rank's energy over one rank's tokens (unchanged by the fix): 8 ranks' energy over
    # 8 ranks' tokens is the same figure; a sequence's output tokens are the prefill's first and one a decode step,
    # 1 + 3 (probe p237 #1: the divisor was the 3 decode steps alone, the prefill's token uncounted)
    assert rep["efficiency"]["j_per_token"] == pytest.approx(rep["energy"]["total_j"] / (1 * (3 + 1)), rel=1e-12)
    row = next(line for line in _console(rep).splitlines() if "│ serving" in line)
    assert "tokens/s (batch 1 on each of 8 expert-parallel ranks, 3 decode steps)" in row


def test_the_console_counts_every_execution_of_a_collective_row(served):
    # p90 #4: 4 MoE layers x 2 all-to-alls (dispatch, combine) x (1 prefill + 3 decode steps) = 32 calls, whether the
    # rows are the 2-layer sample's (counts 1 and 3 a layer, x 3 steps for the decode rows) or every layer's (before:
    # 8 rows of the sample, 16 of the full run, their counts ignored)
    from accelsim.report import fmt

    full = served[False]
    calls = [op for op in full["ops"] if op["kind"] == "collective"]
    prefill = {op["mapping"]["all_to_all_s"] for op in calls if op["phase"] == "prefill"}
    decode = {op["mapping"]["all_to_all_s"] for op in calls if op["phase"] == "decode"}
    assert len(prefill) == len(decode) == 1  # every layer's call alike (the same message on the same 8 GPUs)
    hand = 4 * 2 * prefill.pop() + 3 * 4 * 2 * decode.pop()
    for rep in served.values():
        # the link does nothing but these calls: its busy time is theirs
        assert rep["utilization"]["link"] * rep["seconds"] == pytest.approx(hand, rel=1e-4)
        row = next(line for line in _console(rep).splitlines() if "collective ops" in line)
        assert f"32 calls, {fmt.seconds(hand)} of link time" in row, row
