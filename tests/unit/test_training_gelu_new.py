"""Probe p222 #2: GPT-2's ``gelu_new`` is transformers' NewGELUActivation, plain Python in eager:
``0.5 * input * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (input + 0.044715 * torch.pow(input, 3.0))))``.
Autograd keeps 4 tensors of the input's shape for it (tools/autograd/derivatives.yaml: pow.Tensor_Scalar saves
``self``, tanh its ``result``, mul.Tensor both operands; the scalar muls and adds none), not the one a fused GELU
keeps. Megatron's ``gpt`` (fused bias-GELU, Korthikanti et al. 2022) keeps one.

Probe p225 #3: the chain was eager in memory only (one GELU kernel's time and bytes); it is now its 8 eager kernels
forward and the 11 its autograd graph runs backward."""

from __future__ import annotations

import math

import accelsim
from accelsim.builders.build import build_graph
from accelsim.ir import OpKind


def _train(model: str, **kw) -> accelsim.Graph:
    return build_graph(accelsim.load_workload({"model": model, "mode": "training", "batch": 1, **kw}))


def test_gpt2_seq_1024_keeps_24sbh_more_a_layer():
    """Per layer, s = 1024, b = 1, h = 768, 2 B: Korthikanti's 34sbh + 5as²b (with dropout) = 89,653,248 B, plus
    the three further [s, 4h] tensors, 3 × 1024 × 3072 × 2 = 18,874,368 B. The layers' difference is the per-layer
    stash."""
    s, h, a = 1024, 768, 12
    korthikanti = 34 * s * h + 5 * a * s * s
    assert korthikanti == 89_653_248
    extra = 3 * s * 4 * h * 2
    assert extra == 18_874_368
    one, two = (_train("gpt2", seq_len=s, layers=n, dtype="bf16").meta["stashed_activation_bytes"] for n in (1, 2))
    assert two - one == korthikanti + extra
    # the whole model: 12 layers' extra on top of the probe's 1,287,723,008 B
    whole = _train("gpt2", seq_len=s, dtype="bf16").meta["stashed_activation_bytes"]
    assert whole == 1_287_723_008 + 12 * extra == 1_514_215_424


ACT = "transformer.h.0.mlp.act"


def _bytes(op) -> int:
    """Bytes one eager kernel moves: its tensor inputs read, its output written (bf16: 2 B an element)."""
    return sum(math.prod(s) for s in op.in_shapes) * 2 + op.out_bytes


def test_the_saved_tensors_are_the_chains_own_outputs_read_backward():
    """Probe p225 #3 replaced merge trainstash's 0-flop ``act.saved`` op (which re-read the GELU's output, as no
    eager kernel does) by the chain's own kernels: the stash keeps pow's input x (c_fc's output), tanh's result and
    the last mul's two operands, each read by its backward."""
    g = _train("gpt2", seq_len=128, layers=1, dtype="bf16")
    assert f"{ACT}.saved" not in {op.name for op in g.ops}
    kept = {"transformer.h.0.mlp.c_fc", f"{ACT}.tanh", f"{ACT}.half", f"{ACT}.one"}
    assert kept <= set(g.meta["stashed"])
    assert not {f"{ACT}.pow", f"{ACT}.coef", f"{ACT}.add", f"{ACT}.scale"} & set(g.meta["stashed"])
    assert g[f"{ACT}.tanh.grad_input"].inputs[1] == f"{ACT}.tanh"  # tanh_backward(grad, result)
    assert g[f"{ACT}.pow.grad_pow"].inputs == ("transformer.h.0.mlp.c_fc",)  # pow_backward's self.pow(2)


def test_eager_kernels_forward_and_backward_by_hand():
    """NewGELUActivation ``0.5 * x * (1.0 + tanh(c * (x + 0.044715 * pow(x, 3.0))))`` in eager PyTorch, U = one
    [s, 4h] bf16 tensor (s = 128, b = 1: 128 × 3072 × 2 = 786,432 B), each kernel reading its tensor operands and
    writing its output. Forward, in Python's evaluation order: 0.5·x 2U, pow 2U, ×0.044715 2U, x + a 3U, ×c 2U,
    tanh 2U, 1 + t 2U, e·d 3U: 8 kernels, 18U. Backward (tools/autograd/derivatives.yaml): mul.Tensor's
    ``grad * other`` and ``grad * self`` 3U each; ×0.5 2U; add.Scalar none; tanh_backward(grad, result) 3U; ×c 2U;
    add.Tensor none (alpha 1); ×0.044715 2U; pow_backward = grad * (3 · x.pow(2)) (FunctionsManual.cpp): 2U + 2U +
    3U; x's three gradients summed by autograd's InputBuffer, two adds of 3U: 11 kernels, 28U."""
    u = 128 * 3072 * 2
    assert u == 786_432
    g = _train("gpt2", seq_len=128, layers=1, dtype="bf16")
    fwd = [op for op in g.ops if op.attrs.get("eager") and op.attrs["phase"] == "forward"]
    assert [op.name.removeprefix(ACT) for op in fwd] == [".half", ".pow", ".coef", ".add", ".scale", ".tanh",
                                                         ".one", ""]
    assert [_bytes(op) // u for op in fwd] == [2, 2, 2, 3, 2, 2, 2, 3]
    assert sum(_bytes(op) for op in fwd) == 18 * u
    chain = {op.name for op in fwd}
    bwd = [op for op in g.ops if op.attrs.get("phase") == "backward"
           and (op.attrs.get("forward") in chain or op.attrs.get("accumulate") == "transformer.h.0.mlp.c_fc")]
    assert len(bwd) == 11
    assert sum(_bytes(op) for op in bwd) == 28 * u
    adds = [op for op in bwd if op.attrs.get("accumulate")]
    assert [(op.name, len(op.inputs)) for op in adds] == [("transformer.h.0.mlp.c_fc.grad1", 2),
                                                          ("transformer.h.0.mlp.c_fc.grad", 2)]


def test_inference_runs_the_same_chain():
    """Hugging Face's eager GPT2LMHeadModel runs the same 8 kernels in inference (no workload or execution option
    compiles them: ``execution: cuda_graph`` replays the same kernels), and c_proj reads the last one."""
    g = build_graph(accelsim.load_workload({"model": "gpt2", "batch": 1, "seq_len": 128, "layers": 1,
                                            "dtype": "bf16"}))
    assert [op.fn for op in g.ops if op.attrs.get("eager")] == ["mul", "pow", "mul", "add", "mul", "tanh", "add",
                                                                 "gelu"]
    assert g[ACT].inputs == (f"{ACT}.half", f"{ACT}.one")
    # in inference the steps are eager-only (kernels on a GPU preset, in place off one) and the last is the GELU a
    # compiler runs, marked eager_fn "mul" (on a GPU preset the e * d kernel): the model's FLOPs are one GELU's,
    # ACT_FLOPS["gelu"] = 8 an element, and none of the steps'
    steps = [op for op in g.ops if op.attrs.get("eager") and op.name != ACT]
    assert all(op.attrs.get("eager_copy") is True and op.flops == 0 for op in steps)
    assert g[ACT].attrs.get("eager_fn") == "mul" and g[ACT].flops == 8 * 128 * 3072
    assert g["transformer.h.0.mlp.c_proj"].inputs == (ACT,)


def test_megatron_gpt_keeps_a_fused_gelus_one_input():
    g = _train("gpt", layers=1, hidden=256, heads=4, seq_len=64)
    assert not [op for op in g.ops if op.attrs.get("fn") == "eager_saved"]
    acts = [op for op in g.ops if op.kind is OpKind.ACTIVATION and op.attrs.get("phase") == "backward"]
    assert acts and all(len(op.inputs) == 2 for op in acts)  # (dY, the GELU's input)


def test_full_recompute_rebuilds_them():
    """With recompute=full the layer keeps only its input (2sbh); the chain's saved tensors are recomputed with
    the GELU, not kept."""
    s, h = 128, 768
    one, two = (_train("gpt2", seq_len=s, layers=n, dtype="bf16", recompute="full")
                .meta["stashed_activation_bytes"] for n in (1, 2))
    assert two - one == 2 * s * h
