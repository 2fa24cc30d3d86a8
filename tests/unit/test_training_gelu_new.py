"""Probe p222 #2: GPT-2's ``gelu_new`` is transformers' NewGELUActivation, plain Python in eager:
``0.5 * input * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (input + 0.044715 * torch.pow(input, 3.0))))``.
Autograd keeps 4 tensors of the input's shape for it (tools/autograd/derivatives.yaml: pow.Tensor_Scalar saves
``self``, tanh its ``result``, mul.Tensor both operands; the scalar muls and adds none), not the one a fused GELU
keeps. Megatron's ``gpt`` (fused bias-GELU, Korthikanti et al. 2022) keeps one."""

from __future__ import annotations

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


def test_the_saved_tensors_are_written_forward_and_read_backward():
    g = _train("gpt2", seq_len=128, layers=1, dtype="bf16")
    act = "transformer.h.0.mlp.act"
    saved = g[f"{act}.saved"]
    assert saved.attrs["phase"] == "forward" and saved.fn == "eager_saved" and saved.flops == 0
    assert saved.out_bytes == 3 * 128 * 4 * 768 * 2  # t, 0.5·x, 1 + t
    bwd = g[f"{act}.grad_input"]
    # dY (c_proj's input gradient), the GELU's input (pow's saved self) and the other three
    assert bwd.inputs == ("transformer.h.0.mlp.c_proj.grad_input", "transformer.h.0.mlp.c_fc", f"{act}.saved")
    assert f"{act}.saved" in g.meta["stashed"]


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
