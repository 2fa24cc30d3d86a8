"""``overlap_grad_reduce`` with one data-parallel rank gets a note, as ``distributed_optimizer`` does (probe p93 #5)."""

from __future__ import annotations

from accelsim.api import simulate
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
