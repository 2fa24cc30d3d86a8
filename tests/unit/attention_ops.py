"""A fused ATTENTION op of the ``attention`` micro-workload, for the cost-model tests."""

from __future__ import annotations

from accelsim.builders.micro import AttentionParams, attention
from accelsim.ir import Op, OpKind


def fused_attention_op(defaults: dict, **kw) -> Op:
    """The ATTENTION op of ``attention`` fused, bf16, with ``defaults`` then ``kw`` as its parameters."""
    graph = attention(AttentionParams(**{"attention": "fused", "dtype": "bf16", **defaults, **kw}))
    return next(op for op in graph.ops if op.kind is OpKind.ATTENTION)
