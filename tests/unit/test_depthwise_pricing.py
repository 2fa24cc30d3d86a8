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
    # 512 lanes a SM, which count FLOPs (78 TFLOPS fp16 non-tensor = 108 SMs x 512 x 1.41 GHz), so an FMA is 2
    # lane-cycles (arch/a100.yaml cycles_per_element.fma); the bf16 conv runs PyTorch's conv_depthwise2d, whose
    # accumulator is fp32 (DepthwiseConv2d.cu acc_t = float: core.vector.depthwise_runs_as), at the fp32 rate 0.25
    # (19.5 TFLOPS): 64 FMAs a clock per SM, the CUDA guide's 64 fp32 FMA/clk/SM at cc 8.0 (was the packed fp16
    # rate, 256, probe p197 #1); 2 · 520,224,768 / 512 / 0.25 = 8,128,512 lane cycles, over 108 SMs 75,264 each
    assert op["mapping"]["rate"] == {"dtype": "fp32", "runs_as": "fp32", "multiplier": 0.25}
    assert op["mapping"]["work_cycles"] == 4 * (2 * MACS // 512) == 8_128_512
    assert op["compute_cycles"] == 8_128_512 // 108 == 75_264
    # its bytes: input and output 128·144·56·56 bf16 each, the 144x1x3x3 weight and 144 biases:
    # 2 · 115,605,504 + 2,592 + 288 = 231,213,888 B; at 2,039 GB/s 0.1134 ms, above 75,264 cycles at 1.41 GHz
    # (53.4 µs), so the 3x3 conv is memory bound even at the fp32 rate: the run sits at that roofline (the 3.51 ms of the tensor-core
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
        # ⌈2 · MACs / 512 lanes⌉ at the fp32 rate 0.25: conv_depthwise2d_backward_kernel and
        # conv_depthwise2d_grad_weight_kernel accumulate in acc_t = float too (DepthwiseConv2d.cu)
        assert op["mapping"]["work_cycles"] == 4 * -(-2 * op["macs"] // 512)


def test_a_grouped_conv_that_is_not_depthwise_stays_on_the_array():
    # groups 72 over 144 input channels: 2 channels a group, PyTorch's is_depthwise is false (cuDNN's grouped GEMMs)
    rep = accelsim.simulate({**DW_A100, "batch": 8, "groups": 72}, "a100", plots=False).to_dict()
    op, add = rep["ops"]  # the conv, then its bias add (cuDNN + output.add_: probe p235 #4), a vector kernel
    assert "systolic" in op["unit"] and add["name"] == op["name"] + ".bias_add" and "vector" in add["unit"]


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


# probe p197 #1: ConvNeXt-Tiny's first 7x7 depthwise conv (features.1.0.block.0): 96 channels, 56x56, batch 256
DW7 = {"model": "conv2d", "batch": 256, "in_channels": 96, "out_channels": 96, "kernel_size": 7, "padding": 3,
       "groups": 96, "height": 56, "width": 56}
MACS7 = 256 * 96 * 56 * 56 * 49  # 3,776,446,464


@pytest.mark.parametrize(("arch", "sms", "clock", "fma_per_clk"), [
    # nv_a100_datasheet fp32 19.5 TFLOPS = 108 SMs x 1.41 GHz x 64 FMA x 2; CUDA guide cc 8.0: 64 fp32 FMA/clk/SM
    ("a100", 108, 1.41e9, 64),
    # nv_h100_datasheet fp32 66.9 TFLOPS = 132 SMs x 1.98 GHz x 128 FMA x 2 (run at the 1.83 GHz model clock)
    ("h100", 132, 1.83e9, 128),
])
def test_a_7x7_bf16_depthwise_conv_runs_at_the_fp32_fma_rate_on_nvidia_presets(arch, sms, clock, fma_per_clk):
    rep = accelsim.simulate(DW7, arch, plots=False).to_dict()
    (op,) = rep["ops"]
    assert op["macs"] == MACS7 == 3_776_446_464
    # a100: 3,776,446,464 / (64 x 108) = 546,361 cycles = 387.5 µs; h100: / (128 x 132) = 223,512 cycles
    # = 122.1 µs; both above the bytes' time (2 · 256·96·56² · 2 B = 308.3 MB: 151 µs at 2,039 GB/s, 92 µs at
    # 3,350 GB/s) on a100, so there the conv is compute bound
    cycles = -(-MACS7 // (fma_per_clk * sms))
    assert op["compute_cycles"] == cycles
    assert rep["seconds"] >= cycles / clock
    if arch == "a100":
        assert cycles / clock == pytest.approx(387.5e-6, abs=0.1e-6)
        assert 2 * 256 * 96 * 56 * 56 * 2 / 2039e9 < cycles / clock


def test_other_vector_ops_keep_the_packed_bf16_rate_on_a100():
    # the fp32 accumulator is the depthwise kernel's: an element-wise bf16 op on the same lanes stays at rate 1
    rep = accelsim.simulate({"model": "layers", "input": [256, 96, 56, 56], "layers": [{"type": "gelu"}]}, "a100",
                            plots=False).to_dict()
    (op,) = rep["ops"]
    assert op["mapping"]["rate"] == {"dtype": "bf16", "runs_as": "bf16", "multiplier": 1}


def test_mi210_has_no_cited_depthwise_accumulator_and_keeps_the_bf16_lane_rate():
    # ROCm PyTorch sends a depthwise conv to MIOpen (Convolution.cpp: MiopenDepthwise), whose accumulation is not
    # cited: arch/mi210.yaml lists no depthwise_runs_as; 256 lanes, fma 2: 3,776,446,464 · 2 / 256 lane cycles
    rep = accelsim.simulate(DW7, "mi210", plots=False).to_dict()
    (op,) = rep["ops"]
    assert op["mapping"]["rate"]["multiplier"] == 1
    assert op["mapping"]["work_cycles"] == MACS7 * 2 // 256
