"""Probe p173 #1: ``options.fold_batchnorm`` 'auto' (the default) keeps the batch norms on a GPU preset and folds
them elsewhere; a value written true or false wins on every arch.

The GPU presets model eager PyTorch (a100.yaml's ``kernel_launch``: "the host-side time to launch one kernel through
PyTorch (eager)"), where nn.BatchNorm2d in eval calls F.batch_norm, a cuDNN / ATen kernel of its own; only torch.fx
fusion, torch.compile freezing or TensorRT fold it into the conv. Before, every arch folded by default: resnet50 on
a100 ran 121 kernels in 2.547 ms, not eager PyTorch's 174 (3.660 ms)."""

import pytest

import accelsim
from accelsim.config import load_arch
from accelsim.mapping.aliases import folds_batchnorm
from accelsim.options import Options

# ResNet-18 (He et al. 2016, Table 1; torchvision resnet18): a BN after the stem conv, after each of the 2 convs of
# its 8 basic blocks, and after the 1x1 downsample conv of layer2, layer3 and layer4: 1 + 8 x 2 + 3 = 20
RESNET18_BNS = 20


def _bn_kernels(arch: str, **options: object) -> tuple[int, float]:
    """(batch norms run as kernels, i.e. on a unit other than none; seconds) of resnet18 at batch 1."""
    d = accelsim.simulate("resnet18", arch, plots=False, **options).to_dict()
    norms = [o for o in d["ops"] if o["fn"] == "batchnorm"]
    assert len(norms) == RESNET18_BNS
    return sum(o["unit"] != "none" for o in norms), d["seconds"]


def test_auto_keeps_the_batch_norms_on_a_gpu_and_a_written_value_wins():
    kept, t_auto = _bn_kernels("a100")
    folded, t_true = _bn_kernels("a100", fold_batchnorm=True)
    # Probe p235 #4 changed the folded count from 0 to 20: a folded BN gives its conv a bias (torch.fx's
    # fuse_conv_bn_eval), and _convolution adds a cuDNN conv's bias with output.add_ (Convolution.cpp,
    # ConvBackend::Cudnn), so each folded BN's shift is still one kernel over its conv's output on a GPU preset
    assert (kept, folded) == (RESNET18_BNS, RESNET18_BNS)
    assert _bn_kernels("a100", fold_batchnorm=False) == (kept, t_auto)
    # batch 1 is launch-bound on a100 (each kernel's 21 us launch, a100.yaml kernel_launch, hides its GPU work): the
    # same 20 launches either way, so the same time within 0.1 % (the fused add reads C shift values, not 2·C)
    assert t_true == pytest.approx(t_auto, rel=1e-3)


def test_auto_folds_off_a_gpu_and_false_keeps_them():
    assert _bn_kernels("tpu-v4")[0] == 0
    assert _bn_kernels("tpu-v4", fold_batchnorm=False)[0] == RESNET18_BNS


@pytest.mark.parametrize(("arch", "gpu"), [("a100", True), ("h100", True), ("mi210", True), ("l40s", True),
                                           ("tpu-v4", False), ("edge-npu", False), ("gemmini", False)])
def test_the_rule_is_the_core_kind(arch: str, gpu: bool):
    a = load_arch(arch)
    assert folds_batchnorm(Options(), a) is not gpu
    assert folds_batchnorm(Options(fold_batchnorm=True), a) is True
    assert folds_batchnorm(Options(fold_batchnorm=False), a) is False


@pytest.mark.parametrize("value", [3, "maybe"])
def test_a_bad_value_is_one_error(value: object):
    with pytest.raises(ValueError, match="must be true, false or auto") as e:
        Options(fold_batchnorm=value)
    assert e.value.error_count() == 1


def test_a_bn_marked_folded_at_load_folds_under_auto_on_every_arch():
    """Probe p230 #1: a batch norm the model's own inference code folds as it loads (Ultralytics' fuse(); builder
    attr ``folded_at_load``) folds under 'auto' on a GPU preset too; a value written true or false still wins."""
    from accelsim.ir import Op, OpKind
    from accelsim.mapping.aliases import FOLDED_AT_LOAD

    marked = Op("bn", OpKind.NORM, ("conv",), ((1, 8, 4, 4),), (1, 8, 4, 4), attrs={"fn": "batchnorm",
                                                                               FOLDED_AT_LOAD: True})
    plain = Op("bn", OpKind.NORM, ("conv",), ((1, 8, 4, 4),), (1, 8, 4, 4), attrs={"fn": "batchnorm"})
    for arch in ("a100", "h100", "tpu-v4"):
        a = load_arch(arch)
        assert folds_batchnorm(Options(), a, marked) is True
        assert folds_batchnorm(Options(fold_batchnorm=False), a, marked) is False
    assert folds_batchnorm(Options(), load_arch("a100"), plain) is False
