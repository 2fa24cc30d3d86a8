"""YOLOv8n (builders/detection.py) against Ultralytics' published counts.

Published figures: ultralytics/cfg/models/v8/yolov8.yaml's scale comment "YOLOv8n summary: 225 layers, 3157200
parameters, 3157184 gradients, 8.9 GFLOPs" (``model.info()``: every tensor of ``model.parameters()``, and those with
requires_grad); the fused model's "YOLOv8n summary (fused): 168 layers, 3151904 parameters, 0 gradients, 8.7 GFLOPs"
(ultralytics issue #8784; ``model/parameters: 3151904, model/GFLOPs: 8.746`` in the docstring of
ultralytics/utils/torch_utils.py ``model_info_for_loggers``), the 8.7 of Ultralytics' YOLOv8 model table.
``get_flops`` is ``thop.profile(...)[0] / 1e9 * 2``: thop's MACs of the model in eval mode (so Detect runs DFL), 2
FLOPs a MAC. Every other number is a hand calculation written out beside it.
"""

from __future__ import annotations

import pydantic
import pytest

from accelsim.builders import build_workload


@pytest.fixture(scope="module")
def graph():
    return build_workload("yolov8n", {})


def test_params_equal_ultralytics_model_info(graph):
    assert graph.params == 3_157_200
    # the 16 without gradients are DFL's fixed 1×1 conv of 16 → 1 (requires_grad_(False)): 3,157,184 gradients
    assert graph["model.22.dfl.conv"].params == 3_157_200 - 3_157_184
    # fusing folds each BatchNorm's weight and bias (2·C) into a conv bias (C): the fused count is C lower per norm
    bn_channels = sum(op.params for op in graph if op.name.endswith(".bn")) // 2
    assert graph.params - bn_channels == 3_151_904


def test_training_gives_dfl_no_gradient_or_step(graph):
    """Probe p161 #1: the DFL conv (requires_grad_(False)) had a weight gradient (537,600 MACs) and an Adam step."""
    step = build_workload("yolov8n", {"mode": "training", "dtype": "bf16"})
    assert graph["model.22.dfl.conv"].weights[0].frozen and step.trainable_params == 3_157_184
    names = {op.name for op in step}
    assert "model.22.dfl.conv.grad_weight" not in names and "model.22.dfl.conv.weight.step" not in names
    # its input (the softmax of trained logits) still needs dX = dY·Wᵀ: 8400 anchors × 4 sides × 16 bins = 537,600
    assert step["model.22.dfl.conv.grad_input"].macs == 8400 * 4 * 16
    # 3× forward (4,371,993,600 at 640), less model.0's dX (its input is the image: 320·320 pixels × 16 × 3·3·3 =
    # 44,236,800) and the DFL's dW (537,600)
    assert graph.macs == 4_371_993_600
    assert step.macs == 3 * 4_371_993_600 - 44_236_800 - 537_600
    assert step.meta["gradient_bytes"] == 3_157_184 * 4  # fp32 gradients of bf16 parameters


def test_macs_match_ultralytics_gflops(graph):
    # thop's count of the fused model: the conv MACs (folding BN into a conv adds no MAC; SiLU and max-pool are zero
    # ops) plus, in the thop of model_info_for_loggers' 8.746, one op per output element of a nearest upsampling:
    # model.10 256 channels at 40×40 = 409,600 and model.13 128 at 80×80 = 819,200
    upsample_ops = 256 * 40 * 40 + 128 * 80 * 80
    assert round(2 * (graph.macs + upsample_ops) / 1e9, 3) == 8.746
    assert round(2 * graph.macs / 1e9, 1) == 8.7  # the model table's figure, with or without them


def test_detection_grids_by_hand(graph):
    # strides 8, 16, 32 at 640: grids 80×80, 40×40, 20×20, 6400 + 1600 + 400 = 8400 anchors; 64 box channels (4 sides
    # × reg_max 16) and 80 classes each
    assert [graph[f"model.22.cat{i}"].out_shape for i in range(3)] == [(1, 144, 80, 80), (1, 144, 40, 40),
                                                                       (1, 144, 20, 20)]
    assert graph.meta["anchors"] == 8400
    assert graph["model.22.output"].out_shape == (1, 4 + 80, 8400)
    # DFL's conv: 16 bins → 1 at each of the 4 sides of 8400 anchors, 16 · 4 · 8400 = 537,600 MACs
    assert graph["model.22.dfl.conv"].macs == 537_600


def test_c2f_shortcut_in_the_backbone_only(graph):
    # yolov8.yaml: C2f [c, True] in the backbone (layers 2, 4, 6, 8), C2f [c] (shortcut False) in the head; depth 0.33
    # gives round(3 · 0.33) = 1 bottleneck for n = 3 and round(6 · 0.33) = 2 for n = 6
    adds = {op.name for op in graph if op.name.endswith(".add")}
    assert adds == {"model.2.m.0.add", "model.4.m.0.add", "model.4.m.1.add", "model.6.m.0.add", "model.6.m.1.add",
                    "model.8.m.0.add"}


def test_image_size_must_be_a_multiple_of_32():
    with pytest.raises(pydantic.ValidationError) as info:
        build_workload("yolov8n", {"image_size": 600})
    assert [e["loc"] for e in info.value.errors()] == [("image_size",)]
    # another multiple of 32 builds: 320 gives grids 40, 20, 10, 1600 + 400 + 100 = 2100 anchors
    assert build_workload("yolov8n", {"image_size": 320}).meta["anchors"] == 2100


def test_a_bad_image_size_is_one_line_at_its_key_exit_2(tmp_path, capsys):
    from accelsim.cli import main

    path = tmp_path / "yolo.yaml"
    path.write_text("model: yolov8n\nimage_size: 100\n")
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"accelsim: error: {path}:2: image_size: must be a multiple of 32")


# ---- probe p230 #1: Ultralytics' inference folds every BN ------------------------------------------------------
# Ultralytics' predictor and validator load the model through AutoBackend(fuse=True) (ultralytics/nn/autobackend.py,
# ``model = model.fuse(verbose=verbose) if fuse else model``, and ``attempt_load_weights(..., fuse=fuse)``), and
# BaseModel.fuse() (ultralytics/nn/tasks.py) replaces every Conv's conv and bn by ``fuse_conv_and_bn(m.conv, m.bn)``
# and drops the bn: "YOLOv8n summary (fused): 168 layers" against the unfused 225, so 225 − 168 = 57 BatchNorm2d
# modules never run as kernels. The trainer and the in-training validator (``trainer.ema.ema or trainer.model``)
# run the unfused model.
FUSED_BNS = 225 - 168


def _run(arch: str, **options: object) -> dict:
    import accelsim

    return accelsim.simulate("yolov8n", arch, plots=False, **options).to_dict()


def test_every_bn_is_marked_folded_at_load(graph):
    from accelsim.mapping.aliases import FOLDED_AT_LOAD

    norms = [op for op in graph if op.fn == "batchnorm"]
    assert len(norms) == FUSED_BNS
    assert all(op.attrs.get(FOLDED_AT_LOAD) is True for op in norms)
    # the mark changes no count: params stay model.info()'s unfused 3,157,200 (test above)


def test_auto_folds_the_bns_on_a_gpu_as_ultralytics_inference_does():
    auto, folded, kept = _run("h100"), _run("h100", fold_batchnorm=True), _run("h100", fold_batchnorm=False)
    # Probe p235 #4: fuse_conv_and_bn gives each Conv's conv a bias, which eager PyTorch's _convolution adds after
    # cuDNN with output.add_ (Convolution.cpp, ConvBackend::Cudnn): a folded BN's row is that add (reading its
    # shift only), still one kernel; before, a folded BN was no kernel (57 launches, 1.197 ms, missing)
    assert sum(o["fn"] == "batchnorm" and o["unit"] != "none" for o in auto["ops"]) == FUSED_BNS
    assert sum(o["fn"] == "batchnorm" and o["unit"] != "none" for o in kept["ops"]) == FUSED_BNS
    assert (auto["seconds"], auto["bytes"]["hbm"]) == (folded["seconds"], folded["bytes"]["hbm"])
    # a kept BN reads its weight and bias (2·C values), a folded one its shift (C): model.0's 16 channels, 2 B each,
    # 32 B fewer; the conv output each reads and writes is the same, so kept reads more, by the 57 BNs' C values
    assert kept["bytes"]["hbm"] > auto["bytes"]["hbm"]
    # and as many launches: the same time within 0.1 % (batch 1 is launch-bound on h100)
    assert kept["seconds"] == pytest.approx(auto["seconds"], rel=1e-3)


def test_training_keeps_the_bns():
    """fuse() is an inference step: a training step's forward runs every BN (with its batch statistics)."""
    import accelsim

    t = accelsim.simulate("yolov8n", "h100", mode="training", plots=False).to_dict()
    assert sum(o["fn"] == "batchnorm" and o["unit"] != "none" for o in t["ops"]) == FUSED_BNS
