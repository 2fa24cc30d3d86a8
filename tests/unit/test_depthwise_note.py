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


def test_the_share_and_the_longest_op_count_each_conv_from_its_input_ready_not_from_its_weight_loads():
    # probe p268 #1: the note took each depthwise conv's start_cycle -> end_cycle, but start_cycle is when its weights
    # start loading, which runs ahead of its producer; MobileNet-V2 on eyeriss-like read 50 % (the convs' compute +
    # stall cycles are 29 %) and named features.2.dw.conv (96 channels) the longest, not features.3's 144. The same
    # shape here, on eyeriss-like (a 12 x 14 ws array, 2-byte elements, DRAM 1.6 GB/s at 200 MHz = 8 B a cycle):
    #   pw1  1x1 16 -> 96 at 56x56: GEMM 3136 x 96 x 16, ceil(16/12)·ceil(96/14) = 2·7 = 14 folds of
    #        τ = 2·12 + 14 + 3136 − 2 = 3172 cycles: 14·3172 − 1 = 44,407
    #   act  relu6 on the vector lanes; its input and its output, 96·56·56·2 = 602,112 B each, do not fit the
    #        108 KB global buffer and go through DRAM: 1,204,224 B at 8 B a cycle = 150,528 cycles at least
    #   dwA  96 channels of 3136 x 1 x 9 (one fold, τ = 3172): 96·(3172 − 1) = 304,416
    #   pw2  1x1 96 -> 112: ceil(96/12)·ceil(112/14) = 8·8 = 64 folds: 64·3172 − 1 = 203,007
    #   dwB  112 channels: 112·3171 = 355,152
    # A chain on one array: dwA cannot compute before act ends, nor dwB before pw2 ends, so the two depthwise convs'
    # own cycles are at least their compute, 659,568, and at most the run less pw1's compute, act's DRAM time and
    # pw2's compute (44,407 + 150,528 + 203,007 = 397,942). dwA's weights load while act runs, so its start-to-end
    # span also holds act's DRAM time and made it "the longest" though dwB computes 50,736 cycles more.
    spec = {"model": "layers", "input": [1, 16, 56, 56], "layers": [
        {"type": "conv2d", "name": "pw1", "out_channels": 96, "kernel_size": 1, "bias": False},
        {"type": "relu6", "name": "act"},
        {"type": "conv2d", "name": "dwA", "out_channels": 96, "kernel_size": 3, "padding": 1, "groups": 96,
         "bias": False},
        {"type": "conv2d", "name": "pw2", "out_channels": 112, "kernel_size": 1, "bias": False},
        {"type": "conv2d", "name": "dwB", "out_channels": 112, "kernel_size": 3, "padding": 1, "groups": 112,
         "bias": False}]}
    rep = accelsim.simulate(spec, "eyeriss-like", plots=False).to_dict()
    rows = {op["name"]: op for op in rep["ops"]}
    assert {n: rows[n]["compute_cycles"] for n in ("pw1", "dwA", "pw2", "dwB")} == {
        "pw1": 14 * 3172 - 1, "dwA": 96 * 3171, "pw2": 64 * 3172 - 1, "dwB": 112 * 3171}
    assert rows["act"]["bytes"]["hbm"] == 2 * 96 * 56 * 56 * 2 == 1_204_224
    assert rows["dwA"]["start_cycle"] < rows["act"]["end_cycle"]  # its weights load while act runs
    (note,) = [n for n in rep["notes"] if n.startswith("depthwise convs:")]
    assert note.startswith("depthwise convs: 2 ops ran per channel on the systolic arrays (the longest, dwB: 112 "
                           "GEMMs of 3136x1x9 on the 12x14 array)"), note
    busy, total = (int(x.replace(",", "")) for x in note.split("of the run (", 1)[1].split(" cycles)")[0].split(" of "))
    assert total == rep["total_cycles"]
    assert 304_416 + 355_152 <= busy <= total - (44_407 + 1_204_224 // 8 + 203_007), (busy, total)
