"""N:M structured weight sparsity: a pruned model's conv and linear layers, stored compressed.

:func:`apply_sparsity` rewrites a built graph (ops are frozen values). Every layer that multiplies activations by
its own weight matrix (CONV, LINEAR, and a MATMUL that reads a weight; not a tied head, whose table an embedding
also gathers, nor a transposed convolution) is pruned N:M along its GEMM's reduction K
(:class:`accelsim.ir.Sparsity`):

* ``attrs["sparsity"]`` = "N:M"; the cost model skips the zeros on an array that lists the pattern
  (``core.systolic.structured_sparsity``) and multiplies them on one that does not
  (:func:`accelsim.cost.systolic.price`); :func:`accelsim.ir.prune` rewrites one op:
* its weight matrices are stored compressed: ``Weight.nnz`` = rows × ``Sparsity.kept(K)`` elements, each with
  ``Sparsity.index_bits`` of metadata (its biases stay dense; a quantised weight keeps its dense groups' scales);
  the experts a decode step holds unread (``unused_params``) are stored the same way; a layer with K ≤ N (nothing
  to prune) and a weight read along another axis (DeepSeek's absorbed ``q_absorb``) stay dense;
* ``macs`` counts the kept weights' MACs, m · n · kept(K) per GEMM, and ``flops`` drops 2 per MAC skipped; ``gemm``
  keeps the dense K (the activations the layer reads are dense).

This is SCALE-Sim v3's layer-wise sparsity (``OptimizedMapping: false``), applied to every eligible layer. A
weight shared with an op that is not eligible (an embedding table tied to a head) stays dense everywhere.
"""

from __future__ import annotations

import dataclasses

from ..ir import Graph, Op, OpKind, Sparsity, compressed, is_matrix, prune, pruned_weights

ELIGIBLE = (OpKind.CONV, OpKind.LINEAR, OpKind.MATMUL)


def eligible(op: Op) -> bool:
    """A layer that multiplies activations by its own weights (see the module docstring)."""
    return (op.kind in ELIGIBLE and op.gemm is not None and bool(op.weights) and "tied" not in op.attrs
            and op.phase in (None, "forward"))


def held_linear(op: Op) -> bool:
    """Linear weights a pass holds but does not read (a decode step's idle experts: ``unused_params`` with
    ``linear``): stored pruned like the experts that run."""
    return op.fn == "unused_params" and bool(op.attrs.get("linear"))


def _hold_pruned(op: Op, sparsity: Sparsity) -> Op:
    """An idle-experts op with its expert matrices (not their biases) stored compressed along their rows."""
    weights = tuple(compressed(w, sparsity) if is_matrix(w) else w for w in op.weights)
    return dataclasses.replace(op, weights=weights)


def apply_sparsity(graph: Graph, sparsity: Sparsity | str) -> Graph:
    """``graph`` with every eligible layer pruned ``sparsity`` (see the module docstring); unchanged when dense."""
    sp = Sparsity.parse(sparsity) if isinstance(sparsity, str) else sparsity
    if sp.dense:
        return graph
    shared = {w.name for op in graph.ops if not eligible(op) and not held_linear(op) for w in op.weights}
    ops = []
    for op in graph.ops:
        if held_linear(op):
            op = _hold_pruned(op, sp)
        elif eligible(op) and pruned_weights(op) and not any(w.name in shared for w in pruned_weights(op)):
            op = prune(op, sp)
        ops.append(op)
    return Graph(graph.name, ops, graph.inputs, meta={**graph.meta, "sparsity": str(sp)})


__all__ = ["apply_sparsity", "eligible"]
