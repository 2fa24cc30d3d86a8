"""Where depthwise convolutions run (``options.depthwise``, ``mapping.pricing.on_lanes``, ``Op.depthwise``): on a GPU
preset PyTorch sends them to CUDA-core kernels (cuDNN's depthwise kernels or its own ``conv_depthwise2d``), so they
are priced on the vector unit, ⌈MACs / lanes⌉, and bound by their bytes; on a systolic NPU they stay on the array
(SCALE-Sim's per-channel mapping) unless the option moves them to the lanes."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders.layers import GraphBuilder
from accelsim.builders.training import training_graph

# probe p27: a 144-channel 3x3 depthwise conv, 56x56, padding 1, batch 128 (MobileNetV2's features.3 conv size)
DW_A100 = {"model": "conv2d", "batch": 128, "in_channels": 144, "out_channels": 144, "kernel_size": 3,
           "padding": 1, "groups": 144, "height": 56, "width": 56}
MACS = 128 * 56 * 56 * 144 * 9  # one MAC per output element and tap: 520,224,768
A100_HBM = 2039e9  # arch/a100.yaml hbm.bandwidth (nv_a100_datasheet)


def test_a_depthwise_conv_on_a100_runs_on_the_cuda_cores_at_its_memory_roofline():
    rep = accelsim.simulate(DW_A100, "a100", plots=False).to_dict()
    (op,) = rep["ops"]
    assert op["macs"] == MACS == 520_224_768
    assert "vector" in op["unit"] and op["mapping"]["depthwise"] == "vector"
    # bf16 at rate 1 on 512 lanes a SM, which count FLOPs (78 TFLOPS fp16 non-tensor = 108 SMs x 512 x 1.41 GHz), so
    # an FMA is 2 lane-cycles (arch/a100.yaml cycles_per_element.fma): 256 FMAs a clock per SM, 39 TMAC/s;
    # 2 · 520,224,768 / 512 = 2,032,128 lane cycles, over 108 SMs 18,816 each
    assert op["mapping"]["work_cycles"] == 2 * MACS // 512 == 2_032_128
    assert op["compute_cycles"] == 2_032_128 // 108 == 18_816
    # its bytes: input and output 128·144·56·56 bf16 each, the 144x1x3x3 weight and 144 biases:
    # 2 · 115,605,504 + 2,592 + 288 = 231,213,888 B; at 2,039 GB/s 0.1134 ms, far above 18,816 cycles at 1.41 GHz
    # (13.3 µs), so the conv is memory bound: the run sits at that roofline (the 3.51 ms of the tensor-core
    # per-channel GEMMs before, 3 % of the array busy, are gone)
    hbm = 2 * 128 * 144 * 56 * 56 * 2 + 144 * 9 * 2 + 144 * 2
    assert op["bytes"]["hbm"] == hbm == 231_213_888
    assert hbm / A100_HBM <= rep["seconds"] <= 1.5 * hbm / A100_HBM


def test_array_keeps_the_tensor_core_per_channel_gemms_on_a_gpu():
    rep = accelsim.simulate(DW_A100, "a100", plots=False, depthwise="array").to_dict()
    (op,) = rep["ops"]
    assert "systolic" in op["unit"] and op["mapping"]["gemm"] == [128 * 56 * 56, 1, 9, 144]
    # one output column of the 32-column tensor-core array: 1/32 of its PEs
    assert op["mapping"]["mapping_efficiency"] == pytest.approx(1 / 32)


def test_the_backward_ops_of_a_depthwise_conv_run_on_the_lanes_too():
    # training: grad_input (dX, the depthwise conv of dY by the flipped taps) and grad_weight (dW, each channel's
    # 9 taps summed over the 128·56·56 positions) have the forward's MACs each
    # (a 1x1 conv before it, so that its input needs a gradient)
    spec = {"model": "layers", "input": [8, 144, 56, 56], "mode": "training", "layers": [
        {"type": "conv2d", "name": "pw", "out_channels": 144, "kernel_size": 1, "bias": False},
        {"type": "conv2d", "name": "dw", "out_channels": 144, "kernel_size": 3, "padding": 1, "groups": 144}]}
    rep = accelsim.simulate(spec, "a100", plots=False).to_dict()
    rows = {op["name"]: op for op in rep["ops"]}
    assert "systolic" in rows["pw"]["unit"] and "systolic" in rows["pw.grad_weight"]["unit"]
    for name in ("dw", "dw.grad_input", "dw.grad_weight"):
        op = rows[name]
        assert "vector" in op["unit"], name
        assert op["macs"] == 8 * 56 * 56 * 144 * 9
        assert op["mapping"]["work_cycles"] == -(-2 * op["macs"] // 512)  # ⌈2 · MACs / 512 lanes⌉, bf16 at rate 1


def test_a_grouped_conv_that_is_not_depthwise_stays_on_the_array():
    # groups 72 over 144 input channels: 2 channels a group, PyTorch's is_depthwise is false (cuDNN's grouped GEMMs)
    rep = accelsim.simulate({**DW_A100, "batch": 8, "groups": 72}, "a100", plots=False).to_dict()
    (op,) = rep["ops"]
    assert "systolic" in op["unit"]


def test_op_depthwise_reads_the_conv_input_channels_of_forward_and_backward_ops():
    b = GraphBuilder("dw", (2, 16, 8, 8), dtype="fp16")
    x = b.conv2d(b.input, 16, 1, name="pw")  # dense 1x1 (the first op: its input needs no gradient)
    x = b.conv2d(x, 32, 3, padding=1, groups=16, name="dw")  # 16 groups of 1 input channel, 2 outputs each
    b.conv2d(x, 32, 3, padding=1, groups=2, name="grouped")  # 16 input channels a group: not depthwise
    ops = {op.name: op for op in training_graph(b.build(), "sgd").ops}
    assert ops["dw"].depthwise and ops["dw.grad_input"].depthwise and ops["dw.grad_weight"].depthwise
    assert not ops["grouped"].depthwise and not ops["grouped.grad_input"].depthwise
    assert not ops["grouped.grad_weight"].depthwise and not ops["pw"].depthwise


def test_vector_moves_an_npus_depthwise_conv_onto_its_lanes_and_the_note_names_the_option():
    dw = {"model": "conv2d", "in_channels": 32, "out_channels": 32, "groups": 32, "bias": False}  # 3x3, 56x56
    rep = accelsim.simulate(dw, "edge-npu", plots=False).to_dict()
    (note,) = [n for n in rep["notes"] if n.startswith("depthwise convs:")]
    assert "--set options.depthwise=vector" in note
    rep = accelsim.simulate(dw, "edge-npu", plots=False, depthwise="vector").to_dict()
    (op,) = rep["ops"]
    # 56·56·32·9 = 903,168 MACs on edge-npu's 32 lanes, a multiply-add a lane a cycle (the default fma cost, 1):
    # 28,224 cycles (the array took 32 · 3,229 = 103,328)
    assert "vector" in op["unit"] and op["compute_cycles"] == 56 * 56 * 32 * 9 // 32 == 28_224
    assert not any(n.startswith("depthwise convs:") for n in rep["notes"])
