"""Probe p117 #1 and #4: a bf16 training step keeps and reduces fp32 gradients (Megatron-LM), an fp16 one its
16-bit gradients (ZeRO's 2 + 2 + 12 bytes a parameter); the loss keeps its logits in fp32 (Korthikanti et al.
2022 Sec. 4.3: 4·s·b·V/t bytes)."""

from __future__ import annotations

import accelsim
from accelsim.builders.build import build_graph
from accelsim.builders.training import grad_dtype
from accelsim.ir import OpKind

# LLaMA-2-7B (h 4096, 32 layers, FFN 11008, vocab 32000, untied head) at tensor parallel 2, one chip's parameters:
#   a layer: q, k, v, o 4·h²/2 = 33,554,432; gate, up, down 3·h·11008/2 = 67,633,152; two RMSNorms 2·4096 (whole)
#            = 101,195,776; × 32 layers = 3,238,264,832
#   embedding and head 2 · 32000·4096/2 = 131,072,000; the final norm 4096
LLAMA2_7B_TP2_PARAMS = 3_238_264_832 + 131_072_000 + 4096  # = 3,369,340,928


def _llama2_7b_tp2(dtype: str) -> accelsim.Graph:
    return build_graph(accelsim.load_workload({"base": "llama2_7b", "mode": "training", "dtype": dtype,
                                               "seq_len": 4096, "tensor_parallel": 2, "sequence_parallel": True,
                                               "recompute": "selective", "optimizer": "adam"}))


def test_the_gradient_dtype_rule():
    assert grad_dtype("bf16") == "fp32"  # Megatron-LM's accumulate_allreduce_grads_in_fp32, forced for bf16
    assert grad_dtype("fp16") == "fp16"  # loss-scaled fp16 keeps 16-bit gradients (ZeRO)
    assert grad_dtype("fp32") == "fp32"


def test_bf16_gradients_are_fp32_and_the_step_reads_them_so():
    g = _llama2_7b_tp2("bf16")
    assert g.params == LLAMA2_7B_TP2_PARAMS
    assert g.meta["gradient_bytes"] == 4 * LLAMA2_7B_TP2_PARAMS  # 13,477,363,712 B: Megatron's fp32 main grads
    assert g.meta["optimizer_state_bytes"] == 12 * LLAMA2_7B_TP2_PARAMS  # m, v and the master copy, fp32 each
    steps = [op for op in g.ops if op.kind is OpKind.OPTIMIZER]
    assert steps and all(op.dtype == "fp32" for op in steps)
    # the parameter it updates stays bf16: 2 B an element
    w = steps[0].weights[0]
    assert w.role == "param" and w.nbytes(steps[0].dtype) == 2 * w.numel


def test_fp16_gradients_stay_16_bit():
    g = _llama2_7b_tp2("fp16")
    assert g.meta["gradient_bytes"] == 2 * LLAMA2_7B_TP2_PARAMS  # ZeRO's 2 + 2 + 12
    assert all(op.dtype == "fp16" for op in g.ops if op.kind is OpKind.OPTIMIZER)


def _stash(**kw) -> int:
    return build_graph(accelsim.load_workload({"base": "llama3_8b", "mode": "training", "seq_len": 8192,
                                               "attention": "fused", "dtype": "bf16", **kw})
                       ).meta["stashed_activation_bytes"]


def test_the_loss_keeps_its_logits_in_fp32():
    """One layer against two: the difference is one layer's stash; the rest is the non-layer stash, written out:
    the logits at 4 B, s·V·4 = 8192 × 128256 × 4 = 4,202,692,608 B (Korthikanti's 4sbv/t, b 1, t 1; 16-bit logits
    would be 2,101,346,304 B); the final RMSNorm's input and output, 2 × s·h·2 = 2 × 8192 × 4096 × 2 =
    134,217,728 B; the token ids, s × 2 B = 16,384 B (a graph input at the graph's element width)."""
    one, two = _stash(layers=1), _stash(layers=2)
    rest = one - (two - one)
    assert rest == 8192 * 128256 * 4 + 2 * 8192 * 4096 * 2 + 8192 * 2  # = 4,336,926,720


def test_fp32_logits_are_counted_once_at_their_own_width():
    """An fp32 model's logits are 4 B already: the rest is s·V·4 + 2 × s·h·4 + s·4 (every tensor at 4 B)."""
    one, two = _stash(layers=1, dtype="fp32"), _stash(layers=2, dtype="fp32")
    assert one - (two - one) == 8192 * 128256 * 4 + 2 * 8192 * 4096 * 4 + 8192 * 4
