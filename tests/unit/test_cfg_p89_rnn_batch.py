"""Probe p89 #4: a graph built with RecurrentBuilder records its batch (N of torch's (L, N, H_in)), so
``efficiency.j_per_inference`` is per sample."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders.rnn import RecurrentBuilder


# ---- p89 #4: RecurrentBuilder records the batch -----------------------------------------------------------------
def test_recurrent_builder_records_n_of_the_time_major_input_as_the_batch():
    # torch's (L, N, H_in) = (5, 8, 16): 8 samples, not 5 (dim 0 is the sequence), and the lstm's own h0 input does
    # not make the graph a two-input one
    b = RecurrentBuilder("g", {"x": (5, 8, 16)})
    b.lstm("x", 32)
    assert b.build().meta["batch"] == 8
    b = RecurrentBuilder("g", {"x": (8, 5, 16)})  # batch_first: (N, L, H_in)
    b.gru("x", 32, batch_first=True, bidirectional=True)
    assert b.build().meta["batch"] == 8
    b = RecurrentBuilder("g", {"x": (5, 8, 16)})
    b.lstm("x", 32)
    assert b.build({"batch": 3}).meta["batch"] == 3  # the caller's word stands
    b = RecurrentBuilder("g", {"x": (5, 8, 16), "y": (5, 8, 16)})
    b.lstm("x", 32)
    # two inputs of the caller's: N of the first recurrent layer's input (probe p115 #5; was no batch at all), not
    # their dim 0, the sequence
    assert b.build().meta["batch"] == 8


def test_recurrent_graph_energy_per_inference_is_per_sample():
    b = RecurrentBuilder("g", {"x": (5, 8, 16)})
    b.lstm("x", 32)
    d = accelsim.simulate(b.build(), "tpu-v4").to_dict()
    assert d["workload"]["batch"] == 8
    # inference on one chip: j_per_inference = total_j / batch (docs/energy.md); before, total_j itself
    assert d["efficiency"]["j_per_inference"] == pytest.approx(d["energy"]["total_j"] / 8, rel=1e-9)
