"""Frozen parameters in a training step (probe p161 #1): torch's autograd computes no gradient for a tensor that
does not require one, so a parameter set ``requires_grad_(False)`` gets no weight gradient and no optimizer step,
and an op whose parameters are all frozen and whose input needs no gradient needs none itself. DETR's
FrozenBatchNorm2d (facebookresearch/detr models/backbone.py) keeps its scale, shift and running statistics as
buffers and computes ``x * scale + bias``: no batch statistics, no dγ/dβ, and dX = dY·scale. Every number below is
a hand calculation written out beside it."""

from __future__ import annotations

from accelsim.builders.layers import GraphBuilder
from accelsim.builders.training import freeze, training_graph

N, C, H, W = 2, 8, 4, 4


def _forward():
    """stem conv (frozen) → FrozenBN → relu → conv a (trainable) → BN (trainable) → relu."""
    b = GraphBuilder("toy", (N, 3, H, W), dtype="fp32")
    b.conv2d(b.input, C, 1, bias=False, name="stem")
    b.batchnorm2d("stem", name="stem_bn")
    b.relu("stem_bn", name="stem_relu")
    b.conv2d("stem_relu", C, 1, bias=False, name="a")
    b.batchnorm2d("a", name="a_bn")
    b.relu("a_bn", name="a_relu")
    return freeze(b.build(), params=lambda w: w.name.startswith("stem."), norms=lambda op: op.name == "stem_bn")


def test_freeze_marks_weights_and_norms_and_keeps_the_forward():
    g = _forward()
    assert g["stem"].weights[0].frozen and all(w.frozen for w in g["stem_bn"].weights)
    assert g["stem_bn"].attrs["frozen"] is True and "frozen" not in g["a_bn"].attrs
    assert not any(w.frozen for w in g["a"].weights + g["a_bn"].weights)
    # params: stem 8·3 = 24, a 8·8 = 64, a_bn 2·8 = 16: 104; stem_bn's 16 are buffers (FrozenBatchNorm2d's
    # register_buffer; probe p165 #2: they counted, 120), still read and held (weight_bytes 4 B × 120 in fp32);
    # trainable: a and a_bn, 80
    assert all(w.role == "buffer" for w in g["stem_bn"].weights) and g["stem"].weights[0].role == "param"
    assert g.params == 104 and g.trainable_params == 80 and g.weight_bytes == 4 * 120
    assert g.summary()["trainable_params"] == 80
    # an unfrozen graph has no trainable_params key (nothing to tell apart)
    plain = GraphBuilder("p", (N, 3, H, W), dtype="fp32")
    plain.conv2d(plain.input, C, 1, name="c")
    assert "trainable_params" not in plain.build().summary()


def test_no_gradient_or_step_for_frozen_parameters_and_no_input_gradient_below_them():
    t = training_graph(_forward(), "adam")
    names = {op.name for op in t}
    # the stem, its FrozenBN and relu get no backward op at all: nothing below a's input requires a gradient
    assert not [op.name for op in t if op.attrs.get("forward") in ("stem", "stem_bn", "stem_relu")]
    assert [op.name for op in t if op.attrs.get("forward") == "a_relu"] == ["a_relu.grad_input"]
    assert "a.grad_input" not in names and "a.grad_weight" in names
    # no batch statistics for the frozen norm; the trainable one keeps its statistics pass
    assert "stem_bn.stats" not in names and "a_bn.stats" in names
    assert t["stem_bn"].inputs == ("stem",)
    steps = sorted(op.attrs["param"] for op in t if op.kind.value == "optimizer")
    assert steps == ["a.weight", "a_bn.bias", "a_bn.weight"]
    # MACs: forward stem 2·4·4·8·3 = 768 and a 2·4·4·8·8 = 2,048; backward only a's weight gradient (2,048)
    assert t.macs == 768 + 2048 + 2048
    # fp32 gradient of the 80 trainable elements; Adam m and v of fp32 params, 2 × 4 B each
    assert t.meta["gradient_bytes"] == 80 * 4 and t.meta["optimizer_state_bytes"] == 80 * 8


def test_a_frozen_norm_above_a_trainable_op_passes_dy_times_scale():
    # trainable conv → FrozenBN → relu: the norm's dX = dY·scale, one multiply per element, reading dY only
    b = GraphBuilder("toy", (N, 3, H, W), dtype="fp32")
    b.conv2d(b.input, C, 1, bias=False, name="a")
    b.batchnorm2d("a", name="bn")
    b.relu("bn", name="relu")
    t = training_graph(freeze(b.build(), norms=lambda op: True), "sgd")
    dx = t["bn.grad_input"]
    assert dx.inputs == ("relu.grad_input",) and [w.name for w in dx.weights] == ["bn.weight"]
    assert dx.flops == dx.vector_elems == N * C * H * W  # 256 elements, 1 flop each
    assert "bn.grad_weight" not in t and "bn.stats" not in t and "bn.weight.step" not in t
    assert "a.grad_weight" in t and "a.weight.step" in t


def test_a_frozen_weight_whose_input_needs_a_gradient_still_passes_one_back():
    # YOLOv8's DFL: a fixed conv after a trainable one; dX = dY·Wᵀ reads the frozen weight, no dW, no step
    b = GraphBuilder("toy", (N, 3, H, W), dtype="fp32")
    b.conv2d(b.input, C, 1, bias=False, name="a")
    b.conv2d("a", 1, 1, bias=False, name="fixed")
    t = training_graph(freeze(b.build(), params=lambda w: w.name == "fixed.weight"), "sgd")
    # fixed's dX: 2·4·4 pixels × 8 × 1 = 256 MACs, its forward's
    assert t["fixed.grad_input"].macs == t["fixed"].macs == 256
    assert t["fixed.grad_input"].weights[0].name == "fixed.weight"
    assert "fixed.grad_weight" not in t and "fixed.weight.step" not in t
    assert t.params == 3 * 8 + 8 and t.trainable_params == 3 * 8


def test_info_prints_the_trainable_count_where_some_parameter_is_frozen(capsys):
    # DETR freezes ResNet-50's conv1 and layer1 (facebookresearch/detr models/backbone.py): 9,408 + 212,992 =
    # 222,400 conv weights; its FrozenBatchNorm2d scales and shifts are buffers (53 norms, 53,120 values), not
    # parameters (probe p165 #2: params was 41,577,888 with them): the paper's 41,302,368 trainable of
    # 41,302,368 + 222,400 = 41,524,768 (model.parameters()); resnet18 freezes nothing and gets no such row
    from accelsim.cli import main

    assert main(["info", "detr_resnet50"]) == 0
    out = capsys.readouterr().out
    assert "trainable params │ 41,302,368" in out and "41,524,768" in out and "41,577,888" not in out
    assert main(["info", "resnet18"]) == 0
    assert "trainable params" not in capsys.readouterr().out
