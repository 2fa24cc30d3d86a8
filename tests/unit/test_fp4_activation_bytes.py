"""fp4 activations are NVFP4 tensors: two values a byte and one E4M3 scale per 16 values (probe p273 #2).

vLLM's ``scaled_fp4_quant`` (vllm/_custom_ops.py), run before every NVFP4 linear on sm100, allocates its output as
``(m, n // 2)`` uint8, "every two values are packed into a uint8", with "float8_e4m3 scaling factors", one per 16
values: 4 + 8 / 16 = 4.5 bits = 0.5625 B an element. Before, an fp4 activation counted a byte an element."""

from __future__ import annotations

from accelsim import api
from accelsim.builders.build import build_workload
from accelsim.units import DISPATCH_SCALES, dispatch_bytes, dtype_bytes, tensor_bytes


def test_tensor_bytes_packs_fp4_with_a_scale_per_16_rounded_up_per_tensor():
    assert tensor_bytes(16, "fp4") == 8 + 1            # 16 values: 8 B packed + 1 scale
    assert tensor_bytes(17, "fp4") == 9 + 2            # ceil(17 / 2) = 9 B, ceil(17 / 16) = 2 scales
    assert tensor_bytes(1, "fp4") == 1 + 1
    assert tensor_bytes(0, "fp4") == 0
    assert tensor_bytes(33_554_432, "fp4") == 16_777_216 + 2_097_152  # 33,554,432 x 0.5625
    # other dtypes: their bytes an element (int4 activations keep a byte: no packed int4 activation format here)
    assert tensor_bytes(100, "bf16") == 200 and tensor_bytes(100, "fp8") == 100 and tensor_bytes(100, "int4") == 100
    assert dtype_bytes("fp4") == 1  # a copy's / tile operand's element stays an int


def test_the_dispatch_wire_prices_an_fp4_row_as_the_tensor_does():
    # one constant: an expert-parallel dispatch's fp4 row is the same NVFP4 layout (hidden 7168: 3584 + 448 B)
    assert DISPATCH_SCALES["fp4"] == (16, 1)
    assert dispatch_bytes(1, 7168, "fp4") == 3584 + 448 == tensor_bytes(7168, "fp4")
    assert dispatch_bytes(3, 7168, "fp4") == 3 * tensor_bytes(7168, "fp4")


def test_an_fp4_gemms_activation_bytes():
    # probe p273 #2: `accelsim info gemm` at 4096^3 fp4 gave 33,554,432 (input and output at 1 B each); the input
    # and the output are 4096 x 4096 = 16,777,216 elements each, 16,777,216 x 0.5625 = 9,437,184 B each
    tg = build_workload("gemm", {"m": 4096, "n": 4096, "k": 4096, "dtype": "fp4"})
    assert tg.activation_bytes == 2 * 9_437_184 == 18_874_368


def test_llama3_8b_fp4_prefill_writes_its_fp4_activations_packed_on_b200():
    # probe p273 #2: llama3_8b, 8192 tokens, dtype fp4, b200. mlp.mul (SiLU(gate) x up, fused with the fp4 quantise
    # before down_proj) reads gate and up in bf16, 2 x 8192 x 14336 x 2 B = 469,762,048 B, and writes 8192 x 14336 =
    # 117,440,512 fp4 elements: 117,440,512 / 2 + 117,440,512 / 16 = 58,720,256 + 7,340,032 = 66,060,288 B
    # (a byte each before: 587,202,560 B in all). Meta-Llama-3-8B config.json: hidden 4096, intermediate 14336
    w = {"base": "llama3_8b", "layers": 1, "seq_len": 8192, "dtype": "fp4", "attention": "fused", "logits": "last"}
    ops = {op["name"]: op for op in api.simulate(w, "b200", plots=False).to_dict()["ops"]}
    assert ops["model.layers.0.mlp.mul"]["bytes"]["hbm"] == 469_762_048 + 66_060_288 == 535_822_336
    # input_layernorm: reads 8192 x 4096 bf16 (67,108,864 B) and writes it fp4, 33,554,432 x 0.5625 = 18,874,368
    # B, plus its 4096-weight bf16 gamma (8,192 B)
    assert ops["model.layers.0.input_layernorm"]["bytes"]["hbm"] == 67_108_864 + 18_874_368 + 8_192
