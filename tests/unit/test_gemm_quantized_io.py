"""A quantised linear as vLLM runs it: a bf16 input quantized by a kernel of its own, an fp8 GEMM writing bf16
(vLLM Fp8LinearOp.apply: ops.scaled_fp8_quant, then cutlass_scaled_mm with out_dtype = the input's dtype)."""

from __future__ import annotations

from accelsim import api
from accelsim.builders.build import build_workload
from accelsim.config import load_arch
from accelsim.cost import gpu_tiles, vector

M, N, K = 16, 4096, 4096
W8A8 = {"m": M, "n": N, "k": K, "dtype": "fp8", "input_dtype": "bf16", "output_dtype": "bf16"}


def test_the_quantize_kernel_reads_bf16_and_writes_fp8_and_the_gemm_writes_bf16():
    g = build_workload("gemm", W8A8)
    quant, gemm = g.ops
    assert (quant.fn, quant.dtype, quant.out_dtype) == ("quantize", "bf16", "fp8")
    assert quant.in_bytes == M * K * 2 and quant.out_bytes == M * K * 1
    assert gemm.inputs == ("quantize",) and (gemm.dtype, gemm.out_dtype) == ("fp8", "bf16")
    # the GEMM reads the fp8 activation and weight (1 B each) and writes m x n bf16 (2 B)
    assert (gemm.in_bytes, gemm.weight_bytes, gemm.out_bytes) == (M * K, N * K, M * N * 2)


def test_a_gemm_without_input_or_output_dtypes_is_one_op_in_its_dtype():
    (gemm,) = build_workload("gemm", {"m": M, "n": N, "k": K, "dtype": "fp8"}).ops
    assert gemm.out_dtype == "fp8" and gemm.out_bytes == M * N
    # an input already in the compute dtype needs no conversion
    assert len(build_workload("gemm", {"m": M, "n": N, "k": K, "dtype": "bf16", "input_dtype": "bf16"}).ops) == 1


def test_the_quantize_kernel_walks_a_row_with_256_threads_of_16_byte_vectors():
    # vLLM's static_scaled_fp8_quant: one block of 256 threads per token, 8 bf16 elements (16 B) per thread per
    # iteration: a 4096-wide row is 512 vectors, so 256 threads x 2 iterations, one block per row (16 rows)
    quant = build_workload("gemm", W8A8).ops[0]
    assert vector._loops(quant, vector.KERNELS["quantize"]) == (256, M, ((2, 1.0),))


def test_the_epilogue_writes_the_output_dtype():
    # the epilogue writes tm x tn output elements at the core's share of the L2 bandwidth: 2-byte outputs take
    # tm x tn x (2 - 1) / share more than 1-byte ones (one cycle of rounding either way)
    arch = load_arch("h100")
    share = gpu_tiles._terms(arch).l2_per_core
    one, two = (gpu_tiles.fixed_cycles(arch, 128, 128, 1, out_elem=c) for c in (1, 2))
    assert abs((two - one) - 128 * 128 / share) <= 1


def test_the_run_moves_the_bytes_of_each_kernel():
    r = api.simulate({"model": "gemm", **W8A8}, "h100", plots=False).to_dict()
    quant, gemm = r["ops"]
    # the quantize kernel reads the bf16 input from HBM and writes the fp8 copy back (the model's output level)
    assert quant["bytes"]["hbm"] == M * K * 2 + M * K
    # the GEMM streams the fp8 weight from HBM and writes the bf16 output there; its fp8 input is the quantize
    # kernel's output, which the L2 still holds (64 KiB)
    assert gemm["bytes"]["hbm"] == N * K + M * N * 2


def test_a_4_bit_gemm_streams_its_weights_two_per_byte():
    # NVFP4 on b200: a 4-bit GEMM's weights are stored packed (their fp8 block scales, 1/16 B each, not counted)
    (gemm,) = build_workload("gemm", {"m": M, "n": N, "k": K, "dtype": "fp4"}).ops
    assert gemm.weight_bytes == N * K // 2
    r = api.simulate({"model": "gemm", "m": M, "n": N, "k": K, "dtype": "fp4"}, "b200", plots=False).to_dict()
    assert r["ops"][0]["mapping"]["b_bytes_per_element"] == 0.5
    # the weights come from HBM once: N x K / 2 bytes, beside the fp4 activation read and output write, each an
    # NVFP4 tensor: two values a byte and one E4M3 scale per 16 (vLLM's scaled_fp4_quant: (m, n // 2) uint8 + one
    # float8_e4m3 per 16 values), 16 x 4096 / 2 + 16 x 4096 / 16 = 32,768 + 4,096 = 36,864 B each (probe p273 #2:
    # a byte an element, M x K + M x N = 131,072 B, before)
    fp4_act = M * K // 2 + M * K // 16
    assert fp4_act == 36_864
    assert r["ops"][0]["bytes"]["hbm"] == N * K // 2 + 2 * fp4_act


def test_an_fp4_quantize_writes_packed_values_and_block_scales():
    # probe p273 #2: b200, 8192 x 4096 x 4096 fp4 GEMM with bf16 input: the quantize kernel read 67,108,864 B of bf16
    # and wrote 33,554,432 fp4 elements at a byte each (100,663,296 B). NVFP4 (vLLM's scaled_fp4_quant) writes them two
    # a byte plus one float8_e4m3 scale per 16: 33,554,432 / 2 + 33,554,432 / 16 = 16,777,216 + 2,097,152
    m, n, k = 8192, 4096, 4096
    r = api.simulate({"model": "gemm", "m": m, "n": n, "k": k, "dtype": "fp4", "input_dtype": "bf16",
                      "output_dtype": "bf16"}, "b200", plots=False).to_dict()
    quant = next(op for op in r["ops"] if op["name"] == "quantize")
    assert quant["bytes"]["hbm"] == 67_108_864 + 16_777_216 + 2_097_152 == 85_983_232
