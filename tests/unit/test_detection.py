"""DETR R50 (builders/detection.py) against facebookresearch/detr and Carion et al. 2020.

Published figures: DETR's main.py logs ``number of params: 41302368`` for ``detr_resnet50`` (the parameters with
requires_grad: the backbone's conv1 and layer1 are frozen, and FrozenBatchNorm2d keeps its scale and shift as
buffers); the paper's Table 1 gives 41 M params and 86 GFLOPs (detectron2's flop_count_operators, one FLOP a
multiply-accumulate, averaged over the first 100 COCO val2017 images at DETR's eval resize: shorter side 800). Every
other number is a hand calculation written out beside it.
"""

from __future__ import annotations

import pydantic
import pytest

from accelsim.builders import build_workload


@pytest.fixture(scope="module")
def graph():
    cache = {}

    def get(**params: object):
        key = tuple(sorted(params.items()))
        if key not in cache:
            cache[key] = build_workload("detr_resnet50", params)
        return cache[key]

    return get


def _frozen(name: str) -> bool:
    """A weight DETR does not train: the stem conv, layer1, and every FrozenBatchNorm2d (bn*, downsample.1)."""
    body = name.removeprefix("backbone.0.body.")
    return body.startswith(("conv1.", "layer1.")) or ".bn" in name or body.startswith("bn1.") \
        or "downsample.1." in name


def test_trainable_params_equal_detrs_published_count(graph):
    g = graph()
    weights = {w.name: w.numel for op in g for w in op.weights}
    assert sum(n for name, n in weights.items() if not _frozen(name)) == 41_302_368
    # the frozen parts by hand: conv1 64·3·7² = 9,408; layer1's convs: block 0 64·64 + 64·64·9 + 64·256 + 64·256
    # (downsample) = 73,728, blocks 1-2 256·64 + 64·64·9 + 64·256 = 69,632 each: 222,400 with conv1. Batchnorm
    # channels: stem 64; layer1-4 blocks (planes, planes, 4·planes) × (3, 4, 6, 3) blocks = 384·3 + 768·4 +
    # 1536·6 + 3072·3 = 22,656; downsamples 256 + 512 + 1024 + 2048 = 3,840; 26,560 channels × 2 = 53,120.
    # Probe p165 #2: FrozenBatchNorm2d registers its weight and bias as buffers (models/backbone.py
    # register_buffer), so model.parameters() holds only the frozen convs: params = 41,302,368 + 222,400 =
    # 41,524,768 (it was 41,577,888, the 53,120 buffers counted too); the buffers are still held (weight_bytes)
    assert g.params == 41_302_368 + 222_400 == 41_524_768
    buffers = {w.name: w.numel for op in g for w in op.weights if w.role == "buffer"}
    assert sum(buffers.values()) == 53_120 and all(".bn" in n or "downsample.1." in n or "bn1." in n for n in buffers)
    assert g.weight_bytes == 2 * (41_524_768 + 53_120)  # fp16: parameters and buffers, 2 B each


def test_the_frozen_parts_are_marked_frozen(graph):
    g = graph()
    # models/backbone.py BackboneBase: requires_grad_(False) on backbone names without layer2/3/4; FrozenBatchNorm2d's
    # weight and bias are buffers
    assert {w.name for op in g for w in op.weights if w.frozen} == {
        w.name for op in g for w in op.weights if _frozen(w.name)}
    assert g.trainable_params == 41_302_368
    assert all(op.attrs.get("frozen") for op in g if op.fn == "batchnorm")


def test_training_step_trains_only_what_detr_trains(graph):
    """Probe p161 #1: the step trained conv1, layer1 and every FrozenBatchNorm2d (241,722,828,800 MACs)."""
    fwd, step = graph(dtype="bf16"), graph(dtype="bf16", mode="training")
    # 800×1066: conv1 (7×7/2, pad 3) → 400×533, the max-pool → 200×267 = 53,400 pixels for layer1 and layer2.0's
    # first convs. conv1 64·3·49 = 9,408 MACs a pixel × 213,200 = 2,005,785,600. layer1 per pixel: block 0 64·64 +
    # 64·64·9 + 64·256 + 64·256 (downsample) = 73,728, blocks 1-2 256·64 + 64·64·9 + 64·256 = 69,632 each: 212,992 ×
    # 53,400 = 11,373,772,800. layer2.0.conv1 256·128 × 53,400 = 1,749,811,200; layer2.0.downsample.0 (1×1/2) at
    # 100×134 = 13,400 pixels × 256·512 = 1,756,364,800
    conv1, layer1 = 2_005_785_600, 11_373_772_800
    entry = 1_749_811_200 + 1_756_364_800
    assert fwd["backbone.0.body.conv1"].macs == conv1
    assert sum(op.macs for op in fwd if ".layer1." in op.name) == layer1
    # every matmul's dX and dW have its forward MACs (3×), except: conv1 has neither (its input is the image, its
    # weight frozen), layer1 neither, layer2.0's first convs no dX (their input requires no grad), and the first
    # decoder layer's v_proj no dX (it reads the zero tgt, a graph input): 100·256·256 = 6,553,600
    v_proj = 100 * 256 * 256
    assert step.macs == 3 * fwd.macs - 2 * conv1 - 2 * layer1 - entry - v_proj
    # the probe's figure: 241,722,828,800 − (2,005,785,600 + 2 · 11,373,772,800 + 3,506,176,000)
    assert step.macs == 241_722_828_800 - 28_259_507_200 == 213_463_321_600
    names = {op.name for op in step}
    assert not [n for n in names if n.endswith(".stats")]  # FrozenBatchNorm2d has no batch statistics
    assert not [op.name for op in step if op.attrs.get("grad") in ("weight", "bias")
                and fwd[str(op.attrs["forward"])].fn == "batchnorm"]  # no dγ, dβ: buffers
    assert "backbone.0.body.layer2.0.conv1.grad_input" not in names
    assert "backbone.0.body.layer2.0.conv1.grad_weight" in names
    # a FrozenBatchNorm2d above a trainable conv passes dY·scale back: one multiply per element
    dx = step["backbone.0.body.layer2.0.bn1.grad_input"]
    assert dx.flops == dx.vector_elems == 128 * 200 * 267
    stepped = {op.attrs["param"] for op in step if op.kind.value == "optimizer"}
    # (a q/k/v projection's weight and bias by their packed in_proj tensor: probe p165 #1)
    assert stepped == {w.packed or w.name for op in fwd for w in op.weights if not _frozen(w.name)}
    # fp32 gradients of bf16 parameters (4 B) and Adam's m, v and fp32 master copy (12 B), trainable ones only
    assert step.meta["gradient_bytes"] == 41_302_368 * 4
    assert step.meta["optimizer_state_bytes"] == 41_302_368 * 12
    # params: the trainable 41,302,368 + the frozen conv1 9,408 and layer1 212,992; FrozenBatchNorm2d's scales and
    # shifts are buffers (probe p165 #2: was 41,577,888 with them)
    assert step.params == 41_524_768 and step.trainable_params == 41_302_368


def test_attention_steps_one_packed_in_proj_weight_and_bias(graph):
    """Probe p165 #1: 307 optimizer steps, q_proj/k_proj/v_proj weights and biases each stepped alone. DETR's
    models/transformer.py builds every attention as nn.MultiheadAttention(d_model, nhead, dropout=dropout); with
    kdim = vdim = embed_dim torch registers one in_proj_weight (3E, E) and one in_proj_bias (3E), so 4 tensors an
    attention, not 8."""
    fwd, step = graph(dtype="bf16"), graph(dtype="bf16", mode="training")
    # the forward keeps its three GEMMs (q = k ≠ v inputs: torch's _in_projection_packed runs w.chunk(3) separately)
    enc = "transformer.encoder.layers.0.self_attn."
    assert all(fwd[enc + p].gemm is not None for p in ("q_proj", "k_proj", "v_proj"))
    steps = [op for op in step if op.kind.value == "optimizer"]
    # trainable tensors by hand: backbone layer2-4 conv weights 4·3 + 1 + 6·3 + 1 + 3·3 + 1 = 13 + 19 + 10 = 42
    # (FrozenBatchNorm2d has none); input_proj 2; query_embed 1; encoder 6 × (in_proj 2 + out_proj 2 + linear1/2 4
    # + norm1/2 4 = 12) = 72; decoder 6 × (2 attentions × 4 + FFN 4 + 3 norms 6 = 18) = 108, its final norm 2;
    # class_embed 2; bbox_embed MLP 3 × 2 = 6: 235 (18 attentions × 4 fewer than the 307 before)
    assert len(steps) == 42 + 2 + 1 + 72 + 108 + 2 + 2 + 6 == 307 - 18 * 4
    # the same elements: 41,302,368 (DETR's main.py number of params)
    assert sum(op.weights[0].numel for op in steps) == 41_302_368
    w = step[enc + "in_proj.weight.step"]
    assert w.weights[0].shape == (3 * 256, 256) and step[enc + "in_proj.bias.step"].weights[0].shape == (3 * 256,)
    assert enc + "q_proj.weight.step" not in step
    # its gradient: torch's chunk backward, a cat of the q, k, v rows in order, no work
    grad = step[w.inputs[0]]
    assert grad.fn == "grad_concat" and grad.flops == 0 and grad.inputs == tuple(
        enc + f"{p}_proj.grad_weight" for p in "qkv")
    assert step.params == fwd.params == 41_524_768  # the packed tensor counted once, by its slices
    # info's operators table: its rows still add up to params (the step's whole in_proj tensor not again)
    from accelsim.cli import _first_params

    assert sum(_first_params(step)) == 41_524_768


def test_transformer_macs_by_hand_and_paper_gflops_bracketed(graph):
    g = graph()
    # 800×1066: five ceil halvings (conv1, max-pool, three stride-2 stages) give 25 × 34 = 850 tokens
    assert g.meta["feature_map"] == (25, 34)
    assert g["transformer.encoder.layers.0.self_attn.k_proj"].in_shapes[0] == (1, 850, 256)
    # input_proj 850·2048·256 = 445,644,800; each encoder layer 4·850·256² (q, k, v, out) + 2·850²·256 (scores,
    # context) + 2·850·256·2048 (FFN) = 1,484,032,000; each decoder layer self 4·100·256² + 2·100²·256, cross q and
    # out 2·100·256², k and v over the memory 2·850·256², 2·100·850·256, FFN 2·100·256·2048 = 304,230,400; heads on
    # 6 × 100 queries 600·(256·92 + 2·256² + 256·4) = 93,388,800
    transformer = sum(op.macs for op in g if not op.name.startswith("backbone."))
    assert transformer == 445_644_800 + 6 * 1_484_032_000 + 6 * 304_230_400 + 93_388_800
    # the paper's 86 GFLOPs average over COCO images: those are mostly 640×480 (800×1066 resized) and 640×427
    # (800×1199); the average lies between the two sizes' counts
    assert g.macs < 86e9 < graph(image_width=1199).macs


def test_a_too_small_image_is_refused_at_its_key():
    with pytest.raises(pydantic.ValidationError) as info:
        build_workload("detr_resnet50", {"image_width": 16})
    assert [e["loc"] for e in info.value.errors()] == [("image_width",)]
