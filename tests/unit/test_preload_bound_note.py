"""The note of a run on weight-stationary arrays held back by loading the arrays' weights, not by memory
(:func:`accelsim.report.summary.preload_bound_notes`): a decode step's M = 1 GEMV preloads a whole R x C tile per
fold for one row of work."""

from __future__ import annotations

import accelsim


def _arch(dataflow: str = "ws", overlap: bool = False) -> dict:
    return {"name": "npu", "clock": "1GHz", "dtype": "int8", "cores": 1,
            "core": {"systolic": {"rows": 64, "cols": 64, "dataflow": dataflow, "preload_overlap": overlap},
                     "vector": {"lanes": 64}, "sram": {"unified": "8MiB", "double_buffered": True}},
            "hbm": {"capacity": "4GiB", "bandwidth": "1000GB/s", "latency": "100ns"}}


def _run(m: int, **arch) -> dict:
    return accelsim.simulate({"model": "gemm", "m": m, "n": 4096, "k": 4096, "dtype": "int8"}, _arch(**arch)).to_dict()


def _preload(rep: dict) -> list[str]:
    return [n for n in rep["notes"] if n.startswith("weight preload:")]


def test_gemv_on_a_ws_array_is_bound_by_preloads_and_says_so():
    rep = _run(1)
    # 64 x 64 folds of τ = 2R + C + T − 2 = 128 + 64 + 1 − 2 = 191 cycles: 4096 · 191 − 1 = 782,335 cycles of
    # array work, against 16 MiB of int8 weights at 1000 GB/s = 16,777 cycles of HBM: the array sets the run
    (op,) = [o for o in rep["ops"] if o["kind"] == "linear"]
    assert op["compute_cycles"] == 4096 * 191 - 1 == 782_335
    assert rep["total_cycles"] >= 782_335
    (note,) = _preload(rep)
    assert "1 op streaming at most 1 row" in note and "64x64 ws array" in note
    assert "(190 + T cycles a fold)" in note  # 2R + C − 2 = 128 + 64 − 2
    assert "--set arch.core.systolic.preload_overlap=true" in note
    # with the preload overlapped folds start max(T, R) = 64 cycles apart and the last streams its T = 1 (no next
    # preload, probe p169 #1): 64 + 4095 · 64 + 1 + 64 + 64 − 3 = 262,270,
    # still ~16x the HBM time: the note stays and says why narrower weights do not help
    over = _run(1, overlap=True)
    (op,) = [o for o in over["ops"] if o["kind"] == "linear"]
    assert op["compute_cycles"] == 64 + 4095 * 64 + 1 + 64 + 64 - 3 == 262_270
    (note,) = _preload(over)
    assert "a fold still takes 64 cycles to load" in note


def test_no_preload_note_when_rows_fill_the_fold_or_nothing_is_preloaded():
    # M = 256 rows stream per fold (T = 256 >= R = 64): the preload is amortised
    assert _preload(_run(256)) == []
    # an output-stationary array preloads no weights
    assert _preload(_run(1, dataflow="os")) == []


def test_depthwise_convs_are_the_depthwise_notes_not_the_preloads():
    # probe p28: MobileNet-V2 on tpu-v1 got both notes for the same cycles (depthwise 96 % + preload 51 %): its
    # depthwise convs run one channel a column (the depthwise note's case); without them the GEMMs that stream
    # fewer rows than the array's 256 take less than the note's half of the run, so only the depthwise note is given
    notes = accelsim.simulate("mobilenet_v2", "tpu-v1", plots=False).to_dict()["notes"]
    assert any(n.startswith("depthwise convs:") for n in notes)
    assert not any(n.startswith("weight preload:") for n in notes)
