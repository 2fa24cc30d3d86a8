"""Probe p207 #1: a bf16 training step keeps fp32 gradients (4 B a parameter: ``memory.hbm.gradients``, the
data-parallel collectives, ``offload: optimizer_cpu``'s ``grad_down_bytes``), so the HBM traffic prices the same
tensor: the weight-gradient op writes it in fp32 (Megatron's ``wgrad_gemm_accum_fp32``, apex's
csrc/megatron/fused_weight_gradient_dense_cuda.cu: ``float *d_weight``) and the optimizer step reads it at 4 B. A
mixed-precision step reads the fp32 master copy, not the 16-bit parameter, and writes master, m, v and the 16-bit
copy (apex's / Megatron's multi_tensor_adam with master weights; ``emit.host_step_bytes`` prices the CPU's alike):

* bf16, fp32 gradient: read g 4 + master 4 + m 4 + v 4 = 16, write 4 + 4 + 4 + 2 = 14: 30 B a parameter;
* fp16, fp16 gradient: read 2 + 12 = 14, write 14: 28 B;
* fp32, no master: read g 4 + p 4 + m 4 + v 4 = 16, write 12: 28 B (unchanged).
"""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders.build import build_graph
from accelsim.ir import OpKind
from accelsim.mapping import traffic

# a small GPT: hidden 256, so each layer's MLP down-projection (dense_4h_to_h) is 1024 × 256 = 262,144 parameters
SMALL = {"model": "gpt", "hidden": 256, "heads": 4, "layers": 2, "seq_len": 64, "vocab": 1024, "batch": 2,
         "mode": "training"}
DOWN = "layers.0.mlp.dense_4h_to_h"
DOWN_PARAMS = 1024 * 256


def _graph(dtype: str) -> accelsim.Graph:
    return build_graph(accelsim.load_workload({**SMALL, "dtype": dtype}))


@pytest.mark.parametrize("dtype,grad_bytes", [("bf16", 4), ("fp16", 2), ("fp32", 4)])
def test_the_weight_gradient_is_written_in_the_gradient_dtype(dtype, grad_bytes):
    g = _graph(dtype)
    wgrad = next(op for op in g.ops if op.name.endswith(f"{DOWN}.grad_weight"))
    assert op_elems(wgrad) == DOWN_PARAMS
    assert wgrad.out_bytes == grad_bytes * DOWN_PARAMS  # bf16: 1,048,576 B, not 524,288
    # every parameter's gradient ops together write what memory holds: gradient_bytes (tied embedding: its two
    # contributions and their sum, each the table's size)
    grads = {op.name: op for op in g.ops if op.attrs.get("grad") in ("weight", "bias")}
    assert all(op.out_bytes == grad_bytes * op_elems(op) for op in grads.values())
    steps = [op for op in g.ops if op.kind is OpKind.OPTIMIZER]
    assert sum(grad_bytes * op_elems(op) for op in steps) == g.meta["gradient_bytes"]


def op_elems(op) -> int:
    n = 1
    for d in op.out_shape:
        n *= d
    return n


def _step_bytes(monkeypatch, dtype: str) -> tuple[int, int, int, tuple]:
    """(gradient read, parameter and state read, written) of the down-projection's step on h100, from
    ``traffic.operand_bytes``; and the wgrad op's output bytes."""
    seen: dict[str, tuple] = {}
    orig = traffic.operand_bytes

    def wrap(p, ctx):
        out = orig(p, ctx)
        if p.op.name.endswith((f"{DOWN}.weight.step", f"{DOWN}.grad_weight")):
            seen[p.op.name.rsplit(".", 1)[-1]] = out
        return out

    monkeypatch.setattr(traffic, "operand_bytes", wrap)
    accelsim.simulate({**SMALL, "dtype": dtype}, "h100")
    act, _, wts, out = seen["step"]
    return sum(act.values()), sum(wts.values()), sum(out.values()), seen["grad_weight"]


@pytest.mark.parametrize("dtype,grad,read,written", [
    ("bf16", 4, 4 + 4 + 4, 4 + 4 + 4 + 2),  # master, m, v read (not the bf16 copy); master, m, v, bf16 copy written
    ("fp16", 2, 4 + 4 + 4, 4 + 4 + 4 + 2),
    ("fp32", 4, 4 + 4 + 4, 4 + 4 + 4),  # no master: the parameter itself, m and v, each way
])
def test_the_gpu_step_reads_the_gradient_at_its_width_and_the_master_not_the_16_bit_copy(
        monkeypatch, dtype, grad, read, written):
    g_read, state_read, out, wgrad = _step_bytes(monkeypatch, dtype)
    assert g_read == grad * DOWN_PARAMS
    assert state_read == read * DOWN_PARAMS
    assert out == written * DOWN_PARAMS
    assert sum(wgrad[3].values()) == grad * DOWN_PARAMS  # the gradient the step reads is the one the GEMM wrote
    total = {"bf16": 30, "fp16": 28, "fp32": 28}[dtype]  # as emit.host_step_bytes prices the CPU's step
    assert g_read + state_read + out == total * DOWN_PARAMS
