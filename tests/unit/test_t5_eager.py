"""Probe p235 #1 and #7: T5 as eager transformers runs it on a GPU preset, and as a compiler folds it elsewhere.

transformers' T5LayerNorm.forward (src/transformers/models/t5/modeling_t5.py)::

    variance = hidden_states.to(torch.float32).pow(2).mean(-1, keepdim=True)
    hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
    if self.weight.dtype in [torch.float16, torch.bfloat16]:
        hidden_states = hidden_states.to(self.weight.dtype)
    return self.weight * hidden_states

is 8 kernels in a 16-bit model (6 in fp32: both casts are no-ops); apex's FusedRMSNorm replaces it only where apex
is installed. Before, each was one rmsnorm op: t5_small on h100 ran 271 kernels, 5.710 ms. T5Attention adds the
causal mask into the stack's position bias once (``if mask is not None: position_bias = position_bias + mask`` where
it computes the bias; later layers reuse it), not once a layer (6 mask ops before in t5_small's decoder), and
T5ForConditionalGeneration scales the tied head's input, ``sequence_output * (self.model_dim**-0.5)``: a kernel.
Every count below is worked out from those lines and the checkpoints' config.json."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.config import load_arch
from accelsim.ir import OpKind
from accelsim.mapping.aliases import aliases
from accelsim.options import Options

S, T, D = 16, 8, 512  # src_len, tgt_len, t5-small's d_model
NORMS = 6 * 2 + 1 + 6 * 3 + 1  # encoder: 2 a block + final; decoder: 3 a block + final = 32
STEPS = ("to_fp32", "pow", "mean", "add_eps", "rsqrt", "mul", "to_dtype")


@pytest.fixture(scope="module")
def small():
    return build_workload("t5_small", {"src_len": S, "tgt_len": T}, default_dtype="bf16")


def _norm_ops(graph, name: str):
    return [op for op in graph.ops if op.name == name or op.name.startswith(name + ".")]


def test_each_t5_layer_norm_is_its_eager_steps(small):
    ops = _norm_ops(small, "encoder.block.0.layer.0.layer_norm")
    assert [op.name.rsplit("layer_norm", 1)[1].lstrip(".") for op in ops] == [*STEPS, ""]
    *steps, last = ops
    assert all(op.attrs.get("eager_copy") is True for op in steps)
    assert last.fn == "rmsnorm" and last.attrs.get("eager_fn") == "mul"
    assert last.weights[0].name == "encoder.block.0.layer.0.layer_norm.weight"
    # the fp32 intermediates: to_fp32 .. mul write 4 B an element, to_dtype the model's 2 B
    assert [op.out_bytes for op in steps] == [4 * S * D, 4 * S * D, 4 * S, 4 * S, 4 * S, 4 * S * D, 2 * S * D]
    assert sum(op.fn == "rmsnorm" for op in small.ops) == NORMS


def test_fp32_has_no_casts():
    g = build_workload("t5_small", {"src_len": S, "tgt_len": T, "dtype": "fp32"})
    ops = _norm_ops(g, "encoder.final_layer_norm")
    assert [op.name.rsplit(".", 1)[1] for op in ops[:-1]] == ["pow", "mean", "add_eps", "rsqrt", "mul"]


@pytest.mark.parametrize(("arch", "works"), [("h100", 8), ("a100", 8), ("tpu-v4", 1), ("edge-npu", 1)])
def test_eight_kernels_on_a_gpu_one_norm_elsewhere(small, arch: str, works: int):
    plans = {p.op.name: p for p in aliases(small, Options(), load_arch(arch))}
    ops = _norm_ops(small, "decoder.block.0.layer.0.layer_norm")
    assert sum(plans[op.name].works for op in ops) == works
    last = plans["decoder.block.0.layer.0.layer_norm"].op
    elems = T * D
    if works == 8:  # self.weight * hidden_states: one FLOP an element
        # probe p249 #1: the row keeps the RMS norm's 4 an element (the model's count, `accelsim info`'s: the graph
        # as built counts the steps and the norm), and its mapping's mac_fraction 1/4 counts the kernel's 1 (before,
        # the row's flops were set to 1 an element, and report flops fell below info's and computed_flops)
        assert (last.kind, last.fn, last.flops) == (OpKind.ELEMENTWISE, "mul", 4 * elems)
        assert plans[last.name].details == {"folded": True, "mac_fraction": 1 / 4}
        # the rows: pow 1 + mean 1 + mul 1 an element, add_eps and rsqrt 1 a row, the norm 4: the graph's own count
        assert sum(plans[op.name].op.flops for op in ops) == sum(op.flops for op in ops) == 7 * elems + 2 * T
        # computed: pow 1 + mean 1 + mul 1 an element, add_eps and rsqrt 1 a row, the weight mul 1
        assert sum(plans[op.name].op.flops * plans[op.name].details.get("mac_fraction", 1)
                   for op in ops) == 4 * elems + 2 * T
    else:  # the RMS norm as before (4 FLOPs an element), the one kernel; the folded steps compute none
        assert (last.kind, last.fn, last.flops) == (OpKind.NORM, "rmsnorm", 4 * elems)
        # probe t5flops: the folded steps' rows keep their FLOPs (pow 1 + mean 1 + mul 1 an element, add_eps and
        # rsqrt 1 a row), so the rows sum to the graph's own count, `accelsim info`'s, as on a GPU (before, the
        # steps' flops were set to 0: 4 · elems, and report flops fell below info's and computed_flops); they are
        # on no unit, so what is computed is the norm's 4 an element
        assert sum(plans[op.name].op.flops for op in ops) == sum(op.flops for op in ops) == 7 * elems + 2 * T
        assert sum(plans[op.name].op.flops for op in ops if plans[op.name].works) == 4 * elems


def test_the_decoder_masks_its_position_bias_once(small):
    masks = [op for op in small.ops if op.fn == "causal_mask"]
    assert [op.name for op in masks] == ["decoder.position_bias_masked"]
    (mask,) = masks
    assert mask.inputs == ("decoder.position_bias_heads", "attention_mask")
    assert mask.out_shape == (1, 8, T, T)  # (batch, heads, Lq, Lk): position_bias + mask
    adds = [op for op in small.ops if op.fn == "add_rel_pos" and op.name.startswith("decoder.")]
    assert len(adds) == 6 and all(op.inputs[1] == mask.name for op in adds)
    # off a GPU a fused attention masks inside its kernel: no mask op, each attention causal
    fused = build_workload("t5_small", {"src_len": S, "tgt_len": T, "attention": "fused"}, default_dtype="bf16")
    assert not any(op.fn == "causal_mask" for op in fused.ops)
    assert sum(op.kind is OpKind.ATTENTION and op.attrs["causal"] is True for op in fused.ops) == 6


def test_the_tied_head_input_is_scaled(small):
    scale = small["lm_head_scale"]
    assert scale.attrs.get("eager_copy") is True and scale.inputs == ("decoder.final_layer_norm",)
    assert small["lm_head"].inputs[0] == "lm_head_scale"
    training = build_workload("t5_small", {"src_len": S, "tgt_len": T, "mode": "training"})
    assert "lm_head_scale" not in training and not any(op.name.endswith(".pow") for op in training.ops)


def test_t5_small_on_h100_by_hand():
    """271 kernels before; + 32 norms x 7 eager steps, - 5 decoder mask ops, + 1 head scale = 491. Every one of
    them is launch-bound (21 us each, h100.yaml kernel_launch): 491 x 21 us = 10.311 ms, and the run is at least
    that and within 0.5 % of it."""
    d = accelsim.simulate("t5_small", "h100", plots=False).to_dict()
    kernels = [o for o in d["ops"] if o["unit"] != "none"]
    assert len(kernels) == 271 + 32 * 7 - 5 + 1 == 491
    assert 491 * 21e-6 <= d["seconds"] <= 491 * 21e-6 * 1.005
    # the first encoder norm's bf16 → fp32 cast: reads 2 B and writes 4 B of each of 512 x 512 elements
    cast = next(o for o in d["ops"] if o["name"] == "encoder.block.0.layer.0.layer_norm.to_fp32")
    assert cast["bytes"]["l2"] == (2 + 4) * 512 * 512


def test_t5_small_off_a_gpu_counts_info_flops_and_computes_the_norms():
    """Probe t5flops: `accelsim run -w t5_small -a tpu-v4` gave flops 36,751,540,224 below `accelsim info`'s
    36,765,583,104, and computed_flops the 36,765,583,104. Off a GPU the norms' eager steps and the head scale are
    folded (in place on their inputs, unit none): their rows keep their FLOPs, computed by no kernel. By hand, at
    S = 16, T = 8: the 13 encoder-side norms (2 a block + final) over S rows, the 19 decoder-side (3 a block + final)
    over T rows, each of d_model elements a row; each norm's steps count 3 an element and 2 a row; the head scale
    1 an element of T x D."""
    g = build_workload("t5_small", {"src_len": S, "tgt_len": T}, default_dtype="bf16")
    d = accelsim.simulate(g, "tpu-v4", plots=False).to_dict()
    rows = 13 * S + 19 * T  # 13 x 16 + 19 x 8 = 360
    folded = 3 * rows * D + 2 * rows + T * D  # 552,960 + 720 + 4,096 = 557,776
    assert d["flops"] == g.flops  # the model's count, `accelsim info`'s
    assert d["computed_flops"] == g.flops - folded == d["flops"] - 557_776
    norms = [o for o in d["ops"] if o["name"].endswith("layer_norm") and o["unit"] != "none"]
    assert len(norms) == NORMS and sum(o["flops"] for o in norms) == 4 * rows * D  # the compiled norms' own 4
