"""``kernels.csv`` of benchmarks/kernels/measure_gpu.py: memory-bound PyTorch kernels timed as CUDA-graph replays of
one call on the same tensors (DEVICE time, each kernel paying its dispatch gap, as aiconfigurator's rows).

Columns ``op,dtype,shape,bytes,latency_us`` (benchmarks/data/measured/README.md). Each op -> the micro-workload of
the same operation, inputs warm in the L2 where they fit (the replay re-reads the tensors it just read). Where a
micro models a serving engine's kernel rather than PyTorch's (``rmsnorm``: vLLM's), the error measures that
difference too:

* ``add`` (rows x cols, two reads, one write) -> ``add``; ``rmsnorm`` / ``layernorm`` / ``softmax`` -> the micro
  of that name over rows x cols; ``gelu`` -> ``gelu`` over rows·cols elements;
* ``embedding`` (F.embedding, tokens x dim of a 32000-row table, PyTorch 2.11: index_select's small-index kernel
  up to 16 indices, else gather_out's vectorized row copy) -> ``embedding_bag`` with ``kernel: embedding_gather``,
  pooling 1;
* ``embedding_bag_sum`` (batch x pooling x rows x dim, fp32) -> ``embedding_bag`` (sum-pooled).

Not replayed, with the reason: ``silu_mul_eager`` (PyTorch runs F.silu and the multiply as two kernels; the
``silu_mul`` micro is the fused kernel of serving engines), ``copy`` (a copy_ under graph capture is a memcpy node,
not an SM kernel) and ``dependent_scale_chain`` (the per-kernel cost: benchmarks/kernel_dispatch.py's quantity).
"""

from __future__ import annotations

from .data import read_rows
from .model import FilePlan, RowSpec, View, group_view, job

REPLAY = "device time of one call replayed back to back in a CUDA graph (seconds - host launch)"
GRAPH_WARM = "|execution=cuda_graph|warm=all"
ROWWISE = ("add", "rmsnorm", "layernorm", "softmax")
NOT_REPLAYED = {
    "silu_mul_eager": "PyTorch's F.silu(g) * u is two kernels; the silu_mul micro is the fused kernel",
    "copy": "copy_ under graph capture is a memcpy node (a copy engine's transfer), not an SM kernel",
    "dependent_scale_chain": "the per-kernel cost of a dependent chain: benchmarks/kernel_dispatch.py's quantity",
}


def plan_measured_kernels(plan: FilePlan, preset: str) -> FilePlan:
    plan.compared = REPLAY
    arch = preset + GRAPH_WARM
    ops = []
    for r in read_rows(plan.path):
        op, dtype, shape = r["op"].strip(), r["dtype"].strip(), r["shape"].strip()
        key = f"{op} {shape} {dtype}"
        meas = float(r["latency_us"]) * 1e-6
        dims = [int(x) for x in shape.split("x")]
        if op in NOT_REPLAYED:
            plan.skipped.append((key, NOT_REPLAYED[op]))
            continue
        if op in ROWWISE:
            j = job(arch, op, rows=dims[0], cols=dims[1], dtype=dtype)
        elif op == "gelu":
            j = job(arch, "gelu", elements=dims[0] * dims[1], dtype=dtype)
        elif op == "embedding":
            j = job(arch, "embedding_bag", batch=dims[0], rows=32000, dim=dims[1], pooling=1,
                    kernel="embedding_gather", dtype=dtype)
        elif op == "embedding_bag_sum":
            batch, pooling, rows, dim = dims
            j = job(arch, "embedding_bag", batch=batch, rows=rows, dim=dim, pooling=pooling, dtype=dtype)
        else:
            plan.skipped.append((key, f"op {op!r}: no micro-workload"))
            continue
        if op not in ops:
            ops.append(op)
        plan.rows.append(RowSpec(key, meas, ((j, 1, "replay"),), group=op,
                                 tags=frozenset({"ge10us"} if meas >= 10e-6 else {"lt10us"})))
    plan.views = [View("all replayed rows", lambda r: True)] + [group_view(op) for op in ops]
    plan.views.append(View("rows >= 10 us", lambda r: "ge10us" in r.tags, None, "bandwidth regime"))
    plan.notes.append("PyTorch eager kernels (torch.add, F.rms_norm, F.layer_norm, torch.softmax, F.gelu, "
                      "F.embedding, F.embedding_bag) -> the micro of the same operation, graph replay, inputs warm")
    return plan
