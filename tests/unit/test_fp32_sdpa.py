"""fp32 fused attention called through PyTorch's SDPA on an NVIDIA GPU preset runs the memory-efficient kernel
(FlashAttention takes 16-bit inputs only), which on sm80+ computes as 3xTF32 (aten/src/ATen/native/transformers/
cuda/mem_eff_attention/gemm_kernel_utils.h, DefaultGemmType<ArchTag, float>: cutlass::arch::OpMultiplyAddFastF32):
a third of the TF32 tensor rate, whichever builder made the op (the VAE decoders marked it themselves before).
Not on AMD presets: ROCm's fp32 SDPA computes in IEEE fp32, and an MI210 has no TF32 rate."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from accelsim.config import build_graph, load_arch, load_workload
from accelsim.ir import OpKind
from accelsim.mapping.pricing import price_op
from accelsim.units import FAST_FP32, TORCH_DTYPES

FP32 = TORCH_DTYPES["float32"]


def _vit_attention():
    wl = load_workload("vit_b_16", [f"workload.dtype={FP32}", "workload.attention=fused"])
    op = next(o for o in build_graph(wl, "bf16").ops if o.kind is OpKind.ATTENTION)
    assert op.dtype == FP32 and op.attrs.get("sdpa") and not op.attrs.get("fast_fp32")
    return op


def test_vit_fp32_sdpa_attention_runs_at_a_third_of_a100s_tf32_rate():
    # a100: 108 SMs x 32 x 32 bf16 MACs a clock x 2 FLOPs x 1.41 GHz = 311.9 TFLOPS (nv_a100_datasheet: 312 bf16
    # dense); TF32 156 TFLOPS = 0.5 of it; 3xTF32 three MMAs a MAC: 156 / 3 = 52 TFLOPS (311.9 x 0.5 / 3 = 51.98),
    # where plain fp32 on the CUDA cores is 19.5 TFLOPS (0.0625: 311.9 x 0.0625 = 19.49)
    a100 = load_arch("a100")
    op = _vit_attention()
    _, cycles, details = price_op(op, a100)
    rate = details["rate"]
    assert rate == {"dtype": FAST_FP32[0], "runs_as": FAST_FP32[0], "multiplier": 0.5, "passes": 3}
    peak = 108 * 32 * 32 * 2 * 1.41e9 * rate["multiplier"] / rate["passes"]
    assert peak / 1e12 == pytest.approx(51.98, abs=0.01)
    # ViT-B/16 at 224²: 197 tokens, 12 heads of 64; QKᵀ and PV 2 x 197² x 64 MACs a head: 59,610,624 MACs. Priced
    # on one SM's array (split over the SMs later), no faster than its share of the peak: 3 passes x MACs /
    # (1,024 x 0.5) = 349,281 cycles at least (plain fp32: MACs / (1,024 x 0.0625) = 931,456)
    macs = 2 * 197 * 197 * 64 * 12
    assert macs == 59_610_624 and op.macs == macs
    assert cycles >= 3 * macs / (1024 * 0.5)
    # the same op not called through SDPA (no attr "sdpa": the serving engine's kernel, not PyTorch's
    # memory-efficient one) keeps plain fp32's 0.0625: its fold cycles ÷ 0.0625 against ÷ (0.5 / 3), each rounded
    # up once, so the SDPA op takes 0.0625 / (0.5 / 3) = 3 / 8 of its cycles (17,419 -> 6,532 here)
    plain_op = replace(op, attrs={k: v for k, v in op.attrs.items() if k != "sdpa"})
    _, plain, plain_details = price_op(plain_op, a100)
    assert plain_details["rate"] == {"dtype": FP32, "runs_as": FP32, "multiplier": 0.0625}
    assert math.floor(plain * 3 / 8) - 1 <= cycles <= math.ceil(plain * 3 / 8) + 1


@pytest.mark.parametrize("arch", ["mi300x", "mi210"])
def test_amd_fp32_sdpa_attention_stays_ieee_fp32(arch):
    # ROCm's fp32 SDPA computes in IEEE fp32 (no 3xTF32 path; the AMD presets name no core.sdpa_kernel): mi300x's
    # matrix fp32 rate 0.125 (163.4 of 1307.4 TFLOPS, amd_cdna3_wp) though it has a TF32 one, mi210's 0.25 (45.3 of
    # 181, amd_mi210), one pass
    spec = load_arch(arch)
    _, _, details = price_op(_vit_attention(), spec)
    assert details["rate"] == {"dtype": FP32, "runs_as": FP32, "multiplier": {"mi300x": 0.125, "mi210": 0.25}[arch]}
