"""Multi-chip training wording: ``overlap_grad_reduce`` with one data-parallel rank gets a note (probe p93 #5); an
inference pipeline holds one micro-batch a stage and says "1 send" (probe p93 #6). Expected counts are 1F1B's
(Narayanan et al. 2021): stage k of P keeps min(P − k, m) micro-batches' stashes in training, and the fill and drain
wait for 2·(P·v − 1) sends in training, P·v − 1 in inference.
"""

from __future__ import annotations

from accelsim.api import simulate
from accelsim.report import console, html
from accelsim.scenarios.single import OVERLAP_DP1_NOTE

GPT = {"model": "gpt", "layers": 2, "hidden": 256, "heads": 4, "seq_len": 128, "vocab": 1024, "dtype": "bf16"}


def test_overlap_grad_reduce_with_one_data_parallel_rank_gets_a_note():
    assert OVERLAP_DP1_NOTE == ("workload.overlap_grad_reduce changes nothing here: it overlaps the data-parallel "
                                "gradient all-reduce with the backward pass, and this run has one data-parallel rank")
    one = {"base": "dgx-a100", "chips": 1}
    on = {**GPT, "mode": "training", "overlap_grad_reduce": True}
    assert OVERLAP_DP1_NOTE in simulate(on, one).to_dict()["notes"]
    # off (gpt's default), or with 2 data-parallel ranks (where it overlaps their all-reduce): no note
    assert OVERLAP_DP1_NOTE not in simulate({**GPT, "mode": "training"}, one).to_dict()["notes"]
    assert OVERLAP_DP1_NOTE not in simulate(on, {**one, "chips": 2}).to_dict()["notes"]
    # a pipeline of 2 stages on its 2 chips: still one data-parallel rank
    piped = {**on, "pipeline_parallel": 2, "micro_batches": 2}
    assert OVERLAP_DP1_NOTE in simulate(piped, {**one, "chips": 2}).to_dict()["notes"]


def test_an_inference_pipeline_holds_one_micro_batch_a_stage():
    two = {"base": "dgx-a100", "chips": 2}
    piped = {**GPT, "pipeline_parallel": 2, "micro_batches": 4}
    inf = simulate(piped, two).to_dict()["pipeline"]
    # no stash for a backward pass: each stage holds the micro-batch it runs; P·v − 1 = 1 send on the fill's path
    assert [s["activations_in_flight"] for s in inf["stage_times"]] == [1, 1]
    assert inf["p2p_transfers"] == 1
    # training: 1F1B's min(P − k, m) = min(2, 4), min(1, 4); 2·(P·v − 1) = 2 sends
    tr = simulate({**piped, "mode": "training"}, two).to_dict()["pipeline"]
    assert [s["activations_in_flight"] for s in tr["stage_times"]] == [2, 1]
    assert tr["p2p_transfers"] == 2


def test_one_send_is_singular():
    pipe = {"stages": 2, "micro_batches": 4, "interleave": 1, "bubble_fraction": 0.2, "optimizer_s": 0.0,
            "p2p_s": 5e-5, "p2p_transfers": 1, "p2p_sends_total": 4, "p2p_bytes_total": 4096, "bottleneck_stage": 1,
            "iteration_s": 1e-3, "bubble_s": 2e-4,
            "stage_times": [{"stage": 0, "micro_batch_s": 1e-4, "optimizer_s": 0.0, "activations_in_flight": 1,
                             "hbm_used_bytes": 10, "hbm_fraction": 0.5}]}
    text = " ".join(v for _, v in console._pipeline_rows({"pipeline": pipe}))
    assert "(1 send on the critical path of 4 in the step)" in text and "1 sends" not in text
    assert "with 1 micro-batch in flight" in text
    page = html._pipeline({"pipeline": pipe, "memory": {"hbm": {}}})
    assert "the 1 send the fill and drain wait for" in page and "1 sends" not in page
    two = {**pipe, "p2p_transfers": 2, "p2p_sends_total": 8}
    assert "(2 sends on the critical path of 8 in the step)" in " ".join(
        v for _, v in console._pipeline_rows({"pipeline": two}))
    assert "the 2 sends the fill and drain wait for" in html._pipeline({"pipeline": two, "memory": {"hbm": {}}})
