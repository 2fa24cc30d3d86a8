"""fp4 tensors at their packed width wherever bytes move, not only in HBM (probe p274 #2, #3).

An fp4 activation is NVFP4's: two values a byte and one E4M3 scale per 16 values, 0.5 + 1 / 16 = 0.5625 B an
element (units.ACTIVATION_SCALES, tensor_bytes). A GEMM's tiles had streamed their fp4 A operand (and an fp4 output)
at a byte an element through L2 and shared memory while HBM counted 0.5625; a vector kernel had loaded fp4 at a byte
a value, fp8's loop count, for 0.5625 of the bytes; and the split estimate took an activation x activation fp4
matmul's A at a byte an element out of its packed input bytes, leaving B too few (or negative)."""

from __future__ import annotations

from accelsim import api
from accelsim.builders.build import build_workload
from accelsim.config import build_graph, load_arch, load_workload
from accelsim.cost import vector
from accelsim.mapping import traffic
from accelsim.mapping.aliases import aliases
from accelsim.mapping.fusion import fuse, pipeline
from accelsim.mapping.pricing import price
from accelsim.options import Options
from accelsim.units import element_bits, element_bytes, tensor_bytes


def test_the_packed_width_of_an_element():
    assert element_bytes("fp4") == 0.5 + 1 / 16 == 0.5625  # 4 bits and a 1-byte scale per 16 values
    assert element_bytes("fp4") * 4096 == tensor_bytes(4096, "fp4")  # 2,048 + 256 B, the tensor's own count
    assert element_bytes("fp8") == 1 and element_bytes("bf16") == 2 and element_bytes("int4") == 1  # int4: a byte
    assert element_bits("fp4") == 4 and element_bits("fp8") == 8 and element_bits("int4") == 8


def _ops(workload: dict, arch: str, options: dict | None = None) -> dict:
    return {op["name"]: op for op in api.simulate(workload, arch, options, plots=False).to_dict()["ops"]}


def test_an_fp4_gemms_tiles_stream_a_and_c_packed_on_b200():
    # probe p274 #2: b200, 4096^3 fp4 gemm. 512 output tiles of 128 x 256 in 2-SM clusters (each SM 128 rows of A,
    # 128 columns of B), over all of K = 4096. L2 = 512 x (128 x 4096 x 0.5625 (A) + 128 x 4096 x 0.5 (B, packed
    # weights, no scales in the gemm preset)) + the fp4 output 4096 x 4096 x 0.5625 = 512 x (294,912 + 262,144) +
    # 9,437,184 = 294,649,856 B (412,090,368 with A at a byte). Shared memory: the same panels read once by the
    # MMAs and the output staged once: the same 294,649,856 B
    op = _ops({"model": "gemm", "dtype": "fp4", "m": 4096, "n": 4096, "k": 4096}, "b200")["gemm"]
    m = op["mapping"]
    assert (m["output_tiles"], m["tile"], m["cluster"], m["k_slice"]) == (512, [128, 256], 2, 4096)
    assert m["b_bytes_per_element"] == 0.5 and "c_bytes_per_element" not in m  # C at A's 0.5625
    panels = 512 * (128 * 4096 * 0.5625 + 128 * 4096 * 0.5)
    out = 4096 * 4096 * 0.5625
    assert op["bytes"]["l2"] == panels + out == 294_649_856
    assert m["sram_operand_bytes"] == 294_649_856
    # HBM, unchanged: A 9,437,184 + B 4096 x 4096 / 2 = 8,388,608 + C 9,437,184
    assert op["bytes"]["hbm"] == 9_437_184 + 8_388_608 + 9_437_184


def test_an_fp4_conv_streams_its_unpacked_weights_at_a_byte():
    # conv2d 64 -> 64, 1x1, 56 x 56, fp4 on b200: its weights are stored a byte each (Weight.nbytes: only the LLM
    # precision pass and the gemm preset pack 4-bit weights), so its B panels stream at 1 B while A and C are
    # 0.5625. GEMM m = 3136, n = 64, k = 64: 50 tiles of 64 x 64 (2-SM clusters: 32 of B's columns a core):
    # L2 = 50 x (64 x 64 x 0.5625 + 32 x 64 x 1) + 3136 x 64 x 0.5625 = 50 x (2,304 + 2,048) + 112,896 = 330,496;
    # HBM = 112,896 (A) + 4,096 (weights) + 112,896 (C) = 229,888
    op = _ops({"model": "conv2d", "dtype": "fp4", "kernel_size": 1, "padding": 0, "bias": False}, "b200")["conv"]
    m = op["mapping"]
    assert (m["output_tiles"], m["tile"], m["cluster"], m["k_slice"]) == (50, [64, 64], 2, 64)
    assert m["b_bytes_per_element"] == 1
    assert op["bytes"]["l2"] == 50 * (64 * 64 * 0.5625 + 32 * 64 * 1) + 3136 * 64 * 0.5625 == 330_496
    assert op["bytes"]["hbm"] == 112_896 + 4_096 + 112_896


def test_a_vector_load_holds_twice_the_fp4_values():
    # PyTorch's vectorized add kernel: 4 elements a thread an iteration (an fp4 element, torch's float4_e2m1fn_x2,
    # holds two values: 8); softmax's 16-byte load: 8 bf16, 16 fp8, 32 fp4
    graph = build_graph(load_workload({"model": "add", "rows": 64, "cols": 64, "dtype": "fp4"}), "fp4")
    add = graph.ops[0]
    assert vector.per_thread(add, vector.KERNELS["add"]) == 8
    assert vector.per_thread(add, vector.KERNELS["softmax"]) == 32
    fp8 = build_graph(load_workload({"model": "add", "rows": 64, "cols": 64, "dtype": "fp8"}), "fp8").ops[0]
    assert vector.per_thread(fp8, vector.KERNELS["add"]) == 4 and vector.per_thread(fp8, vector.KERNELS["softmax"]) == 16


def test_an_fp4_add_takes_about_its_bytes_share_of_fp8s_time_on_b200():
    # probe p274 #3: add 16384 x 8192 on b200 took 226,084 cycles in fp8 and in fp4 alike. The kernel's time is its
    # blocks' round trips (half as many iterations in fp4: 8 values a thread, not 4) plus what they have in flight
    # at the sustained bandwidth (0.5625 of the bytes), so fp4's span is between 0.5 and 0.5625 of fp8's
    w = {"model": "add", "rows": 16384, "cols": 8192}
    spans = {}
    for d in ("fp8", "fp4"):
        op = _ops({**w, "dtype": d}, "b200", {"execution": "cuda_graph"})["add"]
        spans[d] = op["end_cycle"] - op["start_cycle"]
    assert 0.5 <= spans["fp4"] / spans["fp8"] <= 0.5625


def test_the_split_estimate_takes_an_fp4_matmuls_a_at_its_packed_bytes():
    # dlrm_mlperf's interaction X·Xᵀ, batch 256: X is 256 x 27 x 128 = 884,736 elements, both operands. In fp4 each
    # is 884,736 x 0.5625 = 497,664 B of the op's 995,328 input bytes. Before, A was 884,736 B (a byte an element)
    # and B the rest, 110,592 B
    arch = load_arch("tpu-v4")
    graph = build_graph(load_workload({"model": "dlrm_mlperf", "batch": 256, "dtype": "fp4"}), arch.dtype)
    plans = {p.op.name: p for p in pipeline(price(fuse(aliases(graph, Options()), graph, arch), arch), arch)}
    p = plans["interact.bmm"]
    assert p.op.in_shapes == ((256, 27, 128), (256, 27, 128)) and p.op.in_bytes == 995_328
    seen = []
    reads = traffic.core_reads

    def spy(plan, a_tot, b_tot, *args, **kwargs):
        seen.append((a_tot, b_tot))
        return reads(plan, a_tot, b_tot, *args, **kwargs)

    traffic.core_reads = spy
    try:
        traffic.split_estimate(p, arch, Options(), 4, 1)
    finally:
        traffic.core_reads = reads
    assert seen == [(497_664, 497_664)]


def test_only_the_llm_builders_and_the_gemm_preset_pack_4_bit_weights():
    # probe p274 #1 (docs/configuration.md's `dtype` row now says so): the same 3136 x 64 x 64 product, 4,096
    # weights, is 4,096 x 0.5 = 2,048 B as the gemm micro-workload (packed, no scales) and 4,096 x 1 = 4,096 B as a
    # 64 -> 64 1x1 conv2d on 56 x 56 (a byte each, as int8's), int4 and fp4 alike
    for dtype in ("int4", "fp4"):
        gemm = build_workload("gemm", {"dtype": dtype, "m": 3136, "n": 64, "k": 64})
        conv = build_workload("conv2d", {"dtype": dtype, "kernel_size": 1, "padding": 0, "bias": False})
        assert gemm.params == conv.params == 64 * 64
        assert gemm.weight_bytes == 4096 // 2 and conv.weight_bytes == 4096


def test_fp4_scales_are_counted_unpadded():
    # probe p274 #4: vLLM's scaled_fp4_quant allocates a decode row's (m = 1, n = 4096) scales padded to the
    # swizzled (round_up(1, 128), round_up(4096 / 16, 4) / 4) int32 = 128 x 256 = 32,768 B, 34,816 B with the 2,048
    # B of values. tensor_bytes counts 4096 / 16 = 256 unpadded scales (units.ACTIVATION_SCALES states the
    # simplification: the element counts its callers have give no rows)
    assert tensor_bytes(4096, "fp4") == 2048 + 256 != 2048 + 128 * 256
