"""The report note on depthwise convs run per channel on a systolic array (``summary.depthwise_notes``): each
channel its own m x 1 x kh·kw GEMM (SCALE-Sim's per-channel layers), which keeps a sliver of the array busy."""

from __future__ import annotations

import accelsim

DW = {"model": "conv2d", "in_channels": 32, "out_channels": 32, "groups": 32, "bias": False}  # 3x3, 56x56, pad 1


def test_a_depthwise_conv_that_takes_the_run_gets_a_note_with_its_share_and_the_arrays_use():
    # edge-npu: a 32 x 32 ws array, no preload overlap. Each channel: M = 56·56 = 3136, N = 1, K = 9, so ws maps
    # K to 9 of 32 rows and N to 1 of 32 columns: 9 / 1024 = 0.879 % of the PEs; one fold of 2·32 + 32 + 3136 − 2
    # = 3230 cycles, 3229 a channel (F·τ − 1), 32 · 3229 = 103,328 compute cycles
    rep = accelsim.simulate(DW, "edge-npu", plots=False).to_dict()
    (op,) = rep["ops"]
    assert op["compute_cycles"] == 32 * (2 * 32 + 32 + 3136 - 2 - 1) == 103_328
    (note,) = [n for n in rep["notes"] if n.startswith("depthwise convs:")]
    assert note.startswith("depthwise convs: 1 op ran per channel on the systolic arrays (the longest, conv: 32 GEMMs "
                           "of 3136x1x9 on the 32x32 array) and kept at most 0.879% of an array's PEs busy")
    # the one op spans the whole run (its loads included), and is all of its MACs
    total = rep["total_cycles"]
    assert f"they took 100% of the run ({total:,} of {total:,} cycles) for 100.0% of its MACs" in note


def test_no_note_for_a_dense_conv_or_a_depthwise_conv_that_takes_little_of_the_run():
    rep = accelsim.simulate({**DW, "groups": 1}, "edge-npu", plots=False).to_dict()
    assert not any(n.startswith("depthwise convs:") for n in rep["notes"])
    # the same depthwise conv before a dense 3x3 conv to 512 channels: M = 3136, N = 512, K = 288 gives
    # ceil(288/32)·ceil(512/32) = 144 folds of 3230 cycles, 465,119 cycles, so the depthwise conv's 103,328 are
    # under a fifth of the run, below DEPTHWISE_NOTE_SHARE (a quarter)
    spec = {"model": "layers", "input": [1, 32, 56, 56], "layers": [
        {"type": "conv2d", "name": "dw", "out_channels": 32, "kernel_size": 3, "padding": 1, "groups": 32,
         "bias": False},
        {"type": "conv2d", "name": "pw", "out_channels": 512, "kernel_size": 3, "padding": 1, "bias": False}]}
    rep = accelsim.simulate(spec, "edge-npu", plots=False).to_dict()
    pw = next(op for op in rep["ops"] if op["name"] == "pw")
    assert pw["compute_cycles"] == 144 * (2 * 32 + 32 + 3136 - 2) - 1 == 465_119
    assert not any(n.startswith("depthwise convs:") for n in rep["notes"])


def test_mobilenet_v2_on_tpu_v1_names_its_17_depthwise_convs():
    # one 3x3 depthwise conv in each of its 17 inverted-residual blocks; on the 256 x 256 ws array each channel keeps
    # 9 of 256 rows and 1 of 256 columns busy: 9 / 65,536 = 0.014 %
    rep = accelsim.simulate("mobilenet_v2", "tpu-v1", plots=False).to_dict()
    (note,) = [n for n in rep["notes"] if n.startswith("depthwise convs:")]
    assert note.startswith("depthwise convs: 17 ops ran") and "kept at most 0.014% of an array's PEs busy" in note
