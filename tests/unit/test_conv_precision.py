"""Probe p173 #2: an fp32 convolution on an NVIDIA GPU preset runs at the TF32 rate, as PyTorch runs it by default.

PyTorch's CUDA semantics notes ("TensorFloat-32 (TF32) on Ampere (and later) devices"): torch.backends.cudnn.allow_tf32
"defaults to True", while torch.backends.cuda.matmul.allow_tf32 defaults to False since 1.12: an fp32 Conv2d runs on
the TF32 tensor cores, an fp32 Linear on the CUDA cores. ROCm's convolutions are IEEE fp32 unless asked (and CDNA 2
has no TF32), so the AMD presets keep fp32. Before, every fp32 conv on a100 was priced at 19.5 TFLOPS with no note
(resnet50 fp32 b32 18.71 ms against tf32's 5.99, batch norms folded then)."""

import pytest

import accelsim
from accelsim.config import load_arch
from accelsim.errors import ConfigError
from accelsim.units import DTYPE_BYTES, TORCH_DTYPES, TORCH_FP32_CONV

FP32 = TORCH_DTYPES["float32"]
TF32 = TORCH_FP32_CONV
FP16 = TORCH_DTYPES["float16"]


def _conv(arch: str, dtype: str, **options: object) -> tuple[dict, list[str]]:
    """(the conv's mapping.rate, the run's notes) of one 3x3 64->64 conv on 56x56 (workloads/conv2d.yaml)."""
    d = accelsim.simulate({"model": "conv2d", "dtype": dtype}, arch, plots=False, **options).to_dict()
    (conv,) = [o for o in d["ops"] if o["kind"] == "conv"]
    return conv["mapping"]["rate"], d["notes"]


@pytest.mark.parametrize("arch", ["a100", "h100", "h200", "b200", "l40s"])
def test_an_fp32_conv_runs_at_the_tf32_rate_on_the_nvidia_presets(arch: str):
    a = load_arch(arch)
    rate, notes = _conv(arch, FP32)
    assert rate["runs_as"] == TF32
    # every NVIDIA preset lists TF32 at half the 16-bit tensor rate (a100: 156 / 312 TFLOPS, nv_a100_datasheet)
    assert rate["multiplier"] == a.core.systolic.rates[TF32] == 0.5
    assert any(n.startswith(f"1 convolution op(s) of dtype {FP32} computed at the {TF32} rate") for n in notes)
    ieee, quiet = _conv(arch, FP32, conv_precision="ieee")
    assert ieee["runs_as"] == FP32 and ieee["multiplier"] == a.core.systolic.rates[FP32]
    assert not any("convolution op(s)" in n for n in quiet)


@pytest.mark.parametrize("arch", ["mi210", "mi300x", "tpu-v4"])
def test_the_other_presets_keep_the_conv_at_its_own_rate(arch: str):
    rate, notes = _conv(arch, FP32)
    assert rate["dtype"] == FP32 and not any("convolution op(s)" in n for n in notes)


def test_an_fp32_linear_stays_fp32_and_the_bytes_are_fp32s():
    """resnet18's fc (a Linear) keeps fp32 (cuBLAS's allow_tf32 is False by default); the tensors stay 4-byte."""
    d = accelsim.simulate({"model": "resnet18", "dtype": FP32, "batch": 32}, "a100", plots=False).to_dict()
    ieee = accelsim.simulate({"model": "resnet18", "dtype": FP32, "batch": 32}, "a100", plots=False,
                             conv_precision="ieee").to_dict()
    (fc,) = [o for o in d["ops"] if o["kind"] == "linear"]
    assert fc["mapping"]["rate"]["runs_as"] == FP32
    convs = [o for o in d["ops"] if o["kind"] == "conv"]
    # resnet18: 1 stem + 8 blocks x 2 + 3 downsample 1x1 = 20 convs, all on the TF32 rate
    assert len(convs) == 20 and all(o["mapping"]["rate"]["runs_as"] == TF32 for o in convs)
    assert DTYPE_BYTES[TF32] == DTYPE_BYTES[FP32]  # the rewrite keeps every tensor's width
    # batch 32 is not launch-bound: the convs' compute shows; the same tensors cross HBM (on-chip bytes follow the kernel's tiles, which differ between the two rates)
    assert d["bytes"]["hbm"] == ieee["bytes"]["hbm"] and d["seconds"] < ieee["seconds"]


def test_a_conv_runs_as_of_another_width_is_refused():
    a = load_arch("a100").model_dump()
    a["core"]["systolic"]["conv_runs_as"] = {FP32: TORCH_DTYPES["bfloat16"]}
    with pytest.raises(ConfigError, match=r"conv_runs_as\.fp32: .* a convolution runs as a dtype of its tensors' width"):
        load_arch(a)


def _vae(arch: str, dtype: str, **options: object) -> dict:
    return accelsim.simulate({"model": "sdxl", "part": "vae_decoder", "dtype": dtype, "image_size": 256}, arch,
                             plots=False, **options).to_dict()


def test_the_sdxl_vaes_upcast_convs_run_as_the_arch_runs_fp32_convs():
    """Probe p179 #1: the SDXL VAE's force_upcast decode (dtype fp16) is an ordinary fp32 decoder. Its convs were
    built as tf32, so conv_runs_as and conv_precision could not apply: mi300x (ROCm: IEEE fp32 convs) ran them at
    its TF32 rate (44.84 ms at 1024² against 81.64 ms for dtype fp32), a100 with conv_precision ieee stayed 115.1 ms
    (now 563.7), mi210 noted 37 ops of dtype tf32 without a tf32 rate. The VAE's convs: post_quant_conv, conv_in,
    the mid block's 2 resnets x 2, 4 up blocks x 3 resnets x 2, 2 conv_shortcuts (512 -> 256, 256 -> 128),
    3 upsamplers, conv_out = 1 + 1 + 4 + 24 + 2 + 3 + 1 = 36."""
    def convs(d: dict) -> list[dict]:
        return [o["mapping"]["rate"] for o in d["ops"] if o["kind"] == "conv"]

    up = _vae("a100", FP16)
    assert len(convs(up)) == 36 and all(r["runs_as"] == TF32 for r in convs(up))
    assert any(n.startswith(f"36 convolution op(s) of dtype {FP32} computed at the {TF32} rate") for n in up["notes"])
    # conv_precision ieee: cuDNN's allow_tf32 False, a100's fp32 rate 19.5 / 312 = 0.0625 of its 16-bit tensor rate
    ieee = _vae("a100", FP16, conv_precision="ieee")
    assert all(r["runs_as"] == FP32 and r["multiplier"] == 0.0625 for r in convs(ieee))
    assert ieee["seconds"] > up["seconds"]
    for arch in ("mi300x", "mi210"):
        d = _vae(arch, FP16)
        # the AMD presets list no conv_runs_as: fp32 at the fp32 matrix rate (mi300x 163.4 / 1307.4 = 0.125,
        # amd_cdna3_wp), and the upcast decode costs what dtype fp32 costs
        assert all(r["runs_as"] == FP32 and r["multiplier"] == load_arch(arch).core.systolic.rates[FP32]
                   for r in convs(d))
        assert d["seconds"] == _vae(arch, FP32)["seconds"]
    assert load_arch("mi300x").core.systolic.rates[FP32] == 0.125


def test_an_fp32_sdxl_vae_costs_what_the_upcast_costs_on_a100():
    """Probe p179 #2: dtype fp32 priced the VAE's fused attention at plain fp32 (31.36 ms at 1024², 133.8 ms in
    all) while the upcast ran it as 3xTF32 (12.63 ms, 115.1 ms): PyTorch's fp32 memory-efficient SDPA is 3xTF32 on
    sm80+ (units.FAST_FP32) whichever way the fp32 decode is asked for."""
    fp32, up = _vae("a100", FP32), _vae("a100", FP16)
    attn = [o for o in fp32["ops"] if o["kind"] == "attention"]
    assert len(attn) == 1 and attn[0]["mapping"]["rate"]["passes"] == 3
    assert attn[0]["mapping"]["rate"]["runs_as"] == TF32
    assert fp32["seconds"] == up["seconds"]


def test_a_diffusion_pipeline_at_fp32_carries_the_tf32_conv_note():
    # a composed run (each part a pass through scenarios.single.run_graph, simulate_pass) says its parts' TF32 convs
    # as a plain run does. sd15's VAE decoder (diffusers AutoencoderKL, block_out_channels 128/256/512/512, 2 resnets
    # a decoder block + 1): post_quant_conv 1, conv_in 1, the mid block's 2 resnets x 2 convs = 4, the 4 up blocks'
    # 3 resnets x 2 = 24, their 3 upsamplers' convs, the 2 resnet shortcuts where channels drop (512 -> 256,
    # 256 -> 128), conv_out 1: 1 + 1 + 4 + 24 + 3 + 2 + 1 = 36 convolutions
    wl = {"model": "sd15", "dtype": FP32, "steps": 1, "image_size": 256}
    notes = accelsim.simulate(wl, "a100", plots=False).to_dict()["notes"]
    # each part's line names its part (probe p191 #1: the per-part counts said no part; the line was "36
    # convolution op(s) of dtype ..."); sd15 at steps 1 runs the UNet once (PNDM's plms_timesteps)
    vae = f"36 convolution op(s) in the vae_decoder pass of dtype {FP32} computed at the {TF32} rate"
    assert any(n.startswith(vae) for n in notes)
    assert sum("convolution op(s) in the vae_decoder pass of dtype" in n for n in notes) == 1
    assert sum("convolution op(s) in the unet pass of dtype" in n for n in notes) == 1
    # the safety checker's CLIP patch conv (14x14, stride 14) is the third, since sd15's pipeline runs it (probe
    # p251 #1)
    assert sum("convolution op(s) in the safety_checker pass of dtype" in n for n in notes) == 1
    assert sum("convolution op(s)" in n for n in notes) == 3  # the UNet's line, the VAE's and the safety checker's
    quiet = accelsim.simulate(wl, "a100", plots=False, conv_precision="ieee").to_dict()["notes"]
    assert not any("convolution op(s)" in n for n in quiet)
