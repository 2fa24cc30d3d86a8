"""Pass 1, aliases: views (reshape, concat, head splits) do no work and alias the physical tensors they read;
with ``options.fold_batchnorm`` a batch norm directly after a conv/linear is folded into it (its scale merges
into the producer's weights, its shift is loaded as the producer's bias)."""

from __future__ import annotations

from ..ir import Graph, OpKind
from ..options import Options
from .plan import Plan

_FOLDABLE = (OpKind.CONV, OpKind.CONV_TRANSPOSE, OpKind.LINEAR)


def aliases(graph: Graph, options: Options) -> tuple[Plan, ...]:
    """One plan per op with the physical tensors it reads; views and folded norms do no work."""
    phys: dict[str, tuple[str, ...]] = {name: (name,) for name in graph.inputs}
    plans: list[Plan] = []
    index_of: dict[str, int] = {}
    for i, op in enumerate(graph.ops):
        groups = tuple(phys[src] for src in op.inputs)
        # one input: its tensors as they are (each phys entry is already free of repeats)
        reads = groups[0] if len(groups) == 1 else tuple(dict.fromkeys(t for g in groups for t in g))
        index_of[op.name] = i
        folded = (options.fold_batchnorm and op.kind is OpKind.NORM and op.fn == "batchnorm"
                  and len(op.inputs) == 1 and op.follows == op.inputs[0]
                  and op.inputs[0] in graph and graph[op.inputs[0]].kind in _FOLDABLE)
        if op.kind.is_view or folded:
            phys[op.name] = reads
            plans.append(Plan(op, i, inputs=reads, details={"folded": True} if folded else {}))
            if folded:
                j = index_of[op.inputs[0]]
                plans[j] = plans[j]._replace(weights=plans[j].weights + op.weights[-1:])
            continue
        phys[op.name] = (op.name,)
        plans.append(Plan(op, i, "work", inputs=reads, operands=groups, weights=op.weights))
    return tuple(plans)
