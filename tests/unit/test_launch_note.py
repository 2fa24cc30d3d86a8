"""The launch note (``summary.launch_notes``): one share per run, and no advice a run already follows.

A composed run (serving, a diffusion pipeline, pipeline stages) once copied the launch note of its first simulated
pass, so the note quoted that pass's share (gpt2 prefill + 4 decode steps on an A100: "82 % of the run" against the
report's 58.7 % ``launch_bound_fraction``) and called the run "eager" while its decode steps ran as CUDA graphs.
Now the note quotes the report's ``launch_bound_fraction``, says each pass's launch mode, and is given only when
the eager passes' launches alone take ``LAUNCH_NOTE_SHARE`` of the run.
"""

from __future__ import annotations

import pytest

import accelsim
from accelsim.config import load_arch, load_workload
from accelsim.hardware import Arch
from accelsim.report.summary import LAUNCH_NOTE_HEAD, LAUNCH_NOTE_SHARE, launch_notes


def _launch(rep: dict) -> list[str]:
    return [n for n in rep["notes"] if n.startswith(LAUNCH_NOTE_HEAD)]


@pytest.fixture(scope="module")
def a100() -> Arch:
    return load_arch("a100")


def test_the_note_quotes_the_share_and_every_pass_mode(a100):
    # a100: 21 us a kernel launch, 3.5 us a graph launch (arch/a100.yaml kernel_launch, graph_launch)
    one = launch_notes(a100, 0.49, [("", "eager", 0.49)])
    assert one == ["kernel launches bind 49% of the run (options.execution: eager, 21 \u00b5s of host time a kernel); a "
                   "CUDA graph launches the pass at once (3.5 \u00b5s), as serving stacks run decode steps: "
                   "--set options.execution=cuda_graph"]
    # prefill eager with 30 % of the run in launches, decode steps as graphs with 29 %: 59 % in all
    (mixed,) = launch_notes(a100, 0.59, [("prefill", "eager", 0.30), ("decode", "cuda_graph", 0.29)])
    assert mixed.startswith("kernel launches bind 59% of the run (execution: prefill eager, decode cuda_graph); "
                            "the eager prefill's launches take 30% of the run")
    (both,) = launch_notes(a100, 0.50, [("transformer", "eager", 0.45), ("vae_decoder", "eager", 0.05)])
    assert both.startswith("kernel launches bind 50% of the run (execution: transformer eager, vae_decoder eager;")
    # the eager passes' launches under 25 % (0.20): a CUDA graph could save at most that, so no advice
    assert launch_notes(a100, 0.70, [("prefill", "eager", 0.20), ("decode", "cuda_graph", 0.50)]) == []
    assert launch_notes(a100, 0.90, [("decode", "cuda_graph", 0.90)]) == []  # graphs already
    assert launch_notes(a100, LAUNCH_NOTE_SHARE, [("", "eager", LAUNCH_NOTE_SHARE)]) != []  # the bound itself


@pytest.mark.parametrize(("model", "overrides", "modes"), [
    ("gpt2", ["decode_steps=4", "seq_len=128"], "prefill eager, decode cuda_graph"),
    ("dit_xl_2", ["steps=2"], "transformer eager, vae_decoder eager"),
])
def test_a_composed_runs_note_quotes_its_launch_bound_fraction(model, overrides, modes):
    rep = accelsim.simulate(load_workload(model, overrides), "a100").to_dict()
    assert rep["execution"] == modes
    assert rep["launch_bound_fraction"] == pytest.approx(rep["launch_overhead_s"] / rep["seconds"], rel=1e-12)
    (note,) = _launch(rep)
    assert note.startswith(f"kernel launches bind {rep['launch_bound_fraction']:.0%} of the run (execution: {modes}")
    assert "options.execution: eager" not in note  # the decode steps did not run eager


def test_a_pipeline_runs_note_quotes_its_launch_bound_fraction():
    w = load_workload("gpt", ["hidden=512", "heads=8", "layers=4", "seq_len=256", "pipeline_parallel=2",
                              "micro_batches=4", "mode=training"])
    rep = accelsim.simulate(w, "dgx-a100").to_dict()
    (note,) = _launch(rep)
    assert note.startswith(f"kernel launches bind {rep['launch_bound_fraction']:.0%} of the run "
                           f"(options.execution: eager")


def test_no_advice_where_the_eager_passes_launch_little():
    # 64 decode steps after a 16-token prefill: the run is 31 % launch-bound, mostly the decode steps' graph
    # launches and dispatch gaps, which a CUDA graph does not remove; the prefill's own note said "81 % of the run
    # (options.execution: eager ...)" and was copied into the run's notes
    rep = accelsim.simulate(load_workload("gpt2", ["decode_steps=64", "seq_len=16"]), "a100").to_dict()
    assert rep["launch_bound_fraction"] >= LAUNCH_NOTE_SHARE
    assert _launch(rep) == []
    # a decode-only run (graphs under execution: auto) above the share gets no note either: on h100 (a100 fell to
    # 24 % once the one-row layer norms ran one block a row, merge rowred: under the share, so no longer a case)
    rep = accelsim.simulate(load_workload("gpt2", ["phase=decode", "kv_len=128", "decode_steps=4"]), "h100").to_dict()
    assert rep["execution"] == "decode cuda_graph" and rep["launch_bound_fraction"] >= LAUNCH_NOTE_SHARE
    assert _launch(rep) == []


def test_a_decode_pass_runs_as_a_cuda_graph_under_auto_and_a_prefill_eagerly():
    # probe p24: a single decode step of llama3_8b ran eager under the default execution (auto), 835 kernel launches
    # of 21 us (h100.yaml kernel_launch) each, so A100, H100, H200 and B200 all took 13.7-14.2 ms; a serving engine
    # replays captured decode graphs (the serving scenario's rule), so a phase: decode run does too
    w = {"base": "llama3_8b", "phase": "decode", "kv_len": 512}
    auto = accelsim.simulate(w, "h100").to_dict()
    graph = accelsim.simulate(w, "h100", execution="cuda_graph").to_dict()
    assert auto["execution"] == "cuda_graph" and auto["seconds"] == graph["seconds"]
    # with one graph launch (3.5 us) instead of a launch a kernel, the host no longer binds the step: less than the
    # eager run's, by more than half of its 835 x 21 us launches' share
    eager = accelsim.simulate(w, "h100", execution="eager").to_dict()
    assert eager["execution"] == "eager" and auto["launch_overhead_s"] < eager["launch_overhead_s"] / 2
    prefill = accelsim.simulate({"base": "llama3_8b", "seq_len": 64}, "h100").to_dict()
    assert prefill["execution"] == "eager"


def test_a_gpt_decode_pass_is_a_cuda_graph_too():
    # probe p28: the gpt builder runs through the pipeline scenario (one stage here), which the phase: decode rule
    # did not reach: it launched eager, 0.635 of its 0.698 ms in launches
    w = {"model": "gpt", "phase": "decode", "kv_len": 512, "hidden": 1024, "heads": 16, "layers": 4}
    auto = accelsim.simulate(w, "a100").to_dict()
    graph = accelsim.simulate(w, "a100", execution="cuda_graph").to_dict()
    assert auto["execution"] == "cuda_graph" and auto["seconds"] == graph["seconds"]


def test_a_host_bound_pass_gets_the_note_below_the_share(a100):
    # one eager pass whose launches add 18 % of the run: below LAUNCH_NOTE_SHARE, but when the host issues launches
    # for longer than the device works without them (host busy >= 1 - 0.18 = 82 % of the run) the run is the host's
    (note,) = launch_notes(a100, 0.18, [("", "eager", 0.18)], host_busy=0.9997)
    assert note.startswith(f"{LAUNCH_NOTE_HEAD}the run: the host issues kernels for 100% of it")
    assert "they add 18%" in note and note.endswith("--set options.execution=cuda_graph")
    assert launch_notes(a100, 0.18, [("", "eager", 0.18)], host_busy=0.80) == []  # 80 % < 82 %: the device's
    assert launch_notes(a100, 0.18, [("", "cuda_graph", 0.18)], host_busy=1.0) == []  # graphs already
    # several passes: the host share is no one pass's; the share rule alone
    assert launch_notes(a100, 0.18, [("prefill", "eager", 0.10), ("decode", "eager", 0.08)], host_busy=1.0) == []


def rep_tp8_not_bound(rep: dict) -> bool:
    return rep["utilization"]["launch"] < 1 - rep["launch_bound_fraction"]


def test_tp8_and_tp16_launch_bound_runs_both_get_the_note():
    # probe p77 #3: gpt (hidden 2048, 4 layers) training on dgx-a100 runs in the same seconds at TP 8 and TP 16
    # (the host's 21 us launches set the step), yet only TP 16 (launches add 38 %) had a note; TP 8's add 18 %
    reps = {}
    for t in (8, 16):
        w = load_workload("gpt", ["hidden=2048", "heads=16", "layers=4", "seq_len=1024", f"tensor_parallel={t}",
                                  "mode=training"])
        reps[t] = accelsim.simulate(w, load_arch("dgx-a100", [f"chips={t}"]), plots=False).to_dict()
    # they ran in the same 5.80 ms, the host busy 99.97 % of it, while the optimizer launched a kernel per parameter
    # tensor (52 x 21 us = 1.09 ms). Megatron-LM steps them with FusedAdam, one multi-tensor call of a kernel per
    # 36 tensors or 320 chunks of 65,536 elements (probe p161 #2, mapping/multitensor.py), so the step's tail is
    # the device's: halving its work at TP 16 now shortens the step (5.55 -> 5.17 ms), and the forward and
    # backward launches still keep the host busy longer than the device works without them (the notes below)
    assert reps[16]["seconds"] < reps[8]["seconds"]
    # TP 8's launches add less than the share (the note comes from the host-busy rule); TP 16's all-reduces cross
    # the two nodes, whose NCCL latencies (probe p104 #1) now hold its device longer too, so its share fell below as well
    assert reps[8]["launch_bound_fraction"] < LAUNCH_NOTE_SHARE
    # TP 8 sits on the rule's edge (host busy 86.0 % against 1 − 14.2 %): probe p176 #1's fp32 logits put its device
    # 0.1 % past the host, the row kernels of merge rowred put the host past it again (note back); whichever side, the
    # note follows the host-busy rule exactly
    assert bool(_launch(reps[8])) == (not rep_tp8_not_bound(reps[8]))
    # TP 16 sits on the edge now too: probe p238 #3's vocabulary-parallel loss all-reduces (3 a micro-batch, across
    # the two nodes, 62 us each) put its device past the host (host busy 91.62 % against 1 − 8.35 %; was noted); the
    # note follows the rule, and where it is given it names the share and the remedy
    for rep in (reps[16],):
        assert bool(_launch(rep)) == (not rep_tp8_not_bound(rep))
        for note in _launch(rep):
            assert rep["utilization"]["launch"] >= 1 - rep["launch_bound_fraction"]  # the host outlasts the device
            assert f"{rep['launch_bound_fraction']:.0%}" in note and "options.execution=cuda_graph" in note
