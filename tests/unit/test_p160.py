"""Probe p160 #2 and #3: the SDXL fp32-upcast VAE's fused attention runs PyTorch's memory-efficient SDPA kernel,
which computes fp32 as three TF32 MMAs a MAC (CUTLASS's 3xTF32); and the hf builder's image_size default is per
model (448 for Qwen-VL / GLM-V / Pixtral, one 336² tile for Llama 4)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from accelsim import simulate
from accelsim.builders.sd import SDXLParams, sd
from accelsim.config import build_graph, load_arch, load_workload
from accelsim.ir import OpKind
from accelsim.mapping.pricing import price_op
from accelsim.units import FAST_FP32, TORCH_DTYPES, TORCH_FP32_CONV, mma_passes

ATTN = "decoder.mid_block.attentions.0.attention"


def test_fast_fp32_is_three_tf32_passes_where_the_unit_has_tf32():
    # pytorch aten/src/ATen/native/transformers/cuda/mem_eff_attention/gemm_kernel_utils.h, DefaultGemmType<ArchTag,
    # float> on sm80+: cutlass::arch::OpMultiplyAddFastF32, CUTLASS's 3xTF32 (big·big + big·small + small·big)
    assert FAST_FP32 == (TORCH_FP32_CONV, 3)
    assert mma_passes(True, TORCH_FP32_CONV) == 3
    assert mma_passes(False, TORCH_FP32_CONV) == 1  # an unmarked TF32 op (a cuDNN convolution): one pass
    assert mma_passes(True, TORCH_DTYPES["float32"]) == 1  # no TF32 tensor cores: the SIMT kernel at the fp32 rate


def test_every_fp32_vaes_fused_attention_is_marked():
    # probe p179 #2: an explicit dtype fp32 VAE runs the same fp32 memory-efficient SDPA kernel as the fp16
    # pipeline's upcast (it is the same fp32 decoder), so both mark its fused attention; this test said an explicit
    # fp32 VAE was not marked (priced at plain fp32: 31.36 ms on a100 against the upcast's 12.63 ms). sd15 in fp16 is
    # not upcast: nothing is marked.
    for dtype in ("fp16", "fp32"):
        g = sd(SDXLParams(variant="sdxl", part="vae_decoder", dtype=dtype, image_size=256))
        marked = [op for op in g.ops if op.attrs.get("fast_fp32")]
        assert [op.name for op in marked] == [ATTN]
        assert marked[0].kind is OpKind.ATTENTION and marked[0].dtype == FAST_FP32[0]
        assert marked[0].out_dtype == TORCH_DTYPES["float32"]  # its tensors stay fp32 (4 bytes, as tf32's)
    assert not any(op.attrs.get("fast_fp32")
                   for op in sd(SDXLParams(variant="sd15", part="vae_decoder", dtype="fp16", image_size=256)).ops)


def test_upcast_attention_is_priced_at_a_third_of_the_tf32_rate_on_h100():
    # 1,024² pixels: a 128 x 128 latent, 16,384 tokens of 512 channels, one head. QKᵀ and PV: 2 x 16,384² x 512 =
    # 274,877,906,944 MACs. h100's TF32 tensor rate: 132 SMs x 2,048 bf16 FMA a clock x 0.5 (494.7 / 989.4 TFLOPS
    # dense, nv_h100_datasheet) = 135,168 MACs a clock; 3xTF32 takes 3 passes: at least 3 x 274,877,906,944 /
    # 135,168 = 6,100,853.3 cycles, i.e. at most 494.7 / 3 = 164.9 TFLOPS (probe p160 #2: it was priced at 1xTF32,
    # 453 TFLOPS).
    macs = 2 * 16_384**2 * 512
    assert macs == 274_877_906_944
    tf32_per_cycle = 132 * 2048 // 2
    assert tf32_per_cycle == 135_168
    run = simulate({"model": "sdxl", "dtype": "fp16", "part": "vae_decoder"}, "h100").to_dict()
    attn = next(op for op in run["ops"] if op["name"] == ATTN)
    assert attn["macs"] == macs
    assert attn["compute_cycles"] >= 3 * macs / tf32_per_cycle
    assert attn["mapping"]["rate"]["passes"] == 3
    # the same op unmarked is priced at one TF32 pass: the marked one takes 3 times its cycles (the op's fold
    # cycles ÷ (0.5 / 3) against ÷ 0.5, each rounded up once)
    g = sd(SDXLParams(variant="sdxl", part="vae_decoder", dtype="fp16"))
    op = next(o for o in g.ops if o.name == ATTN)
    h100 = load_arch("h100")
    _, three, _ = price_op(op, h100)
    _, one, _ = price_op(replace(op, attrs={k: v for k, v in op.attrs.items() if k != "fast_fp32"}), h100)
    assert 3 * one - 3 <= three <= 3 * one


@pytest.mark.parametrize("workload, default_side, tokens", [
    ("qwen2_5_vl_7b", 448, 256),   # (448 / 14 / 2)² = 16² = 256
    ("glm4_1v_9b", 448, 256),      # (448 / 28)² = 256
    ("qwen3_vl_8b", 448, 196),     # (448 / 16 / 2)² = 14² = 196
])
def test_image_size_default_is_448_for_qwen_and_glm(workload, default_side, tokens):
    def positions(*extra: str) -> int:
        return build_graph(load_workload(workload, ["workload.images=1", "workload.seq_len=4096", *extra]),
                           "bf16").meta["image_positions"]
    assert positions() == positions(f"workload.image_size={default_side}") == tokens


def test_llama4_image_size_default_is_one_tile_not_448():
    # probe p160 #3: unset, a Llama 4 image is one 336² tile: (336 / 14)² = 576 patches, pixel shuffle 0.5: 144
    # tokens. 448 gives k = ⌈448 / 336⌉ = 2: 2 x 2 tiles and a global one, 5 x 144 = 720 tokens
    def positions(*extra: str) -> int:
        return build_graph(load_workload("llama4_scout", ["workload.images=1", "workload.seq_len=4096", *extra]),
                           "bf16").meta["image_positions"]
    assert positions() == positions("workload.image_size=336") == 144
    assert positions("workload.image_size=448") == 5 * 144 == 720
