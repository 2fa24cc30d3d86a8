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
