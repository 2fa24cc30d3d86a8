"""An arch of several chips running an inference no parallel key spreads over them (probe 16 finding 2): the run is
one chip's, and a note says so, with mac_utilization against one chip's peak and the system's."""

from __future__ import annotations

import pytest

from accelsim import simulate

# 4 chips of one 16 x 16 array at 1 GHz: 256 MACs a cycle per chip
QUAD = {"name": "quad", "clock": "1GHz", "dtype": "int8", "chips": 4,
        "core": {"systolic": {"rows": 16, "cols": 16}, "vector": {"lanes": 16}, "sram": {"unified": "1MiB"}},
        "hbm": {"capacity": "4GiB", "bandwidth": "100GB/s"},
        "interconnect": {"bandwidth": "50GB/s", "latency": "1us", "topology": "ring"}}
GEMM = {"model": "gemm", "m": 256, "n": 256, "k": 256}


def _chip_notes(rep):
    return [n for n in rep["notes"] if n.startswith("chips:")]


def test_a_gemm_on_four_chips_says_it_uses_one_and_its_mac_utilization_is_one_chips():
    rep = simulate(GEMM, QUAD).to_dict()
    # one chip's peak (256), not the system's (1024): 256^3 MACs / (cycles x 256)
    assert rep["arch"]["peak_macs_per_cycle"] == 256
    util = 256**3 / (rep["total_cycles"] * 256)
    assert rep["mac_utilization"] == pytest.approx(util)
    (note,) = _chip_notes(rep)
    assert note.startswith("chips: 4: this run uses 1 chip; the other 3 are idle")
    assert f"mac_utilization {util:.1%} is against one chip's peak, {util / 4:.2%} against the 4-chip system's" in note
    assert "tensor_parallel" in note and "batch / 4 on one chip" in note
    assert rep["bytes"]["link"] == 0  # nothing crossed the chip link: the note's claim


def test_no_note_on_one_chip_nor_where_a_key_spreads_the_run():
    assert _chip_notes(simulate(GEMM, {**QUAD, "chips": 1, "interconnect": None}).to_dict()) == []
    gpt = {"model": "gpt2", "layers": 1, "seq_len": 64, "tensor_parallel": 4}
    assert not any("uses 1 chip" in n for n in simulate(gpt, QUAD).to_dict()["notes"])
    train = {"model": "gemm", "m": 256, "n": 256, "k": 256, "mode": "training"}
    assert not any("uses 1 chip" in n for n in simulate(train, QUAD).to_dict()["notes"])
    coll = {"model": "collective", "op": "all_reduce", "bytes": 1 << 20}
    assert not any("uses 1 chip" in n for n in simulate(coll, QUAD).to_dict()["notes"])
