"""Micro-workloads: a single GEMM, convolution, attention or vector op, for cost-model checks and sweeps.

* ``gemm``: one LINEAR op computing (batch·m × k) · (k × n)ᵀ: input (batch·m, k), weight (n, k) [+ bias (n,)].
  ``batch`` stacks the rows of ``batch`` independent inputs against the same weight, so MACs = batch·m·n·k.
* ``conv2d``: one CONV op with every ``torch.nn.Conv2d`` argument; input (batch, in_channels, height, width).
  ``padding_mode`` is accepted and ignored (it changes the values padded in, not the work).
* ``attention``: softmax(q·kᵀ)·v on graph inputs q, k, v (no projections), unfused or fused, with GQA.
* ``softmax``, ``layernorm`` (a (batch, rows, cols) tensor, over cols) and ``gelu`` (batch × elements): one
  vector op each.
* ``rmsnorm`` (over cols, weight only), ``silu_mul`` (silu(gate) · up of two (batch, rows, cols) inputs, one fused
  ELEMENTWISE op: vLLM's / Sarathi-Serve's ``silu_and_mul`` kernel) and ``add`` (a + b, a residual add): one vector
  op each.
* ``embedding_bag``: one EMBEDDING op (fn "embedding_bag") sum-pooling ``pooling`` rows of a (rows, dim) table per
  sample from (batch, pooling) indices (graph input ``input``); the op convention is :mod:`.recsys`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..ir import Graph, OpKind
from .layers import INPUT, GraphBuilder
from .recsys import RecsysBuilder
from .tlayers import ACT_FLOPS, TransformerBuilder

if TYPE_CHECKING:
    from .registry import (
        AttentionParams,
        Conv2dParams,
        EmbeddingBagParams,
        GeluParams,
        GemmParams,
        RowsColsParams,
    )


def gemm(p: GemmParams) -> Graph:
    """One m×n×k matrix multiply as a LINEAR op (input (batch·m, k), weight (n, k))."""
    b = GraphBuilder("gemm", (p.batch * p.m, p.k), dtype=p.dtype or "fp16")
    b.linear(INPUT, p.n, bias=p.bias, name="gemm")
    return b.build({"model": "gemm", **p.model_dump()})


def conv2d(p: Conv2dParams) -> Graph:
    """One torch.nn.Conv2d layer as a CONV op."""
    b = GraphBuilder("conv2d", (p.batch, p.in_channels, p.height, p.width), dtype=p.dtype or "fp16")
    b.conv2d(INPUT, p.out_channels, p.kernel_size, stride=p.stride, padding=p.padding, dilation=p.dilation,
             groups=p.groups, bias=p.bias, name="conv")
    return b.build({"model": "conv2d", **p.model_dump()})


# ---- transformer micro-workloads (see accelsim.builders.tlayers for the op conventions) ------------------------
def attention(p: AttentionParams) -> Graph:
    """softmax(q·kᵀ)·v on given q (batch, heads, q_len, head_dim) and k, v (batch, kv_heads, kv_len, head_dim).

    Unfused: MATMUL scores, SOFTMAX, MATMUL context; fused: one ATTENTION op. MACs = batch·heads·q_len·kv_len·
    2·head_dim either way; with kv_heads < heads (GQA) the K and V inputs shrink, the MACs do not.
    """
    b = TransformerBuilder("attention", {"q": (p.batch, p.heads, p.q_len, p.head_dim),
                                         "k": (p.batch, p.kv_heads, p.kv_len, p.head_dim),
                                         "v": (p.batch, p.kv_heads, p.kv_len, p.head_dim)}, dtype=p.dtype or "fp16")
    b.attention("q", "k", "v", fused=p.attention == "fused", causal=p.causal)
    return b.build({"model": "attention", **p.model_dump()})


def softmax(p: RowsColsParams) -> Graph:
    """One softmax over the last dim of a (batch, rows, cols) tensor: 5 flops per element."""
    b = TransformerBuilder("softmax", {"input": (p.batch, p.rows, p.cols)}, dtype=p.dtype or "fp16")
    b.softmax("input", name="softmax")
    return b.build({"model": "softmax", **p.model_dump()})


def layernorm(p: RowsColsParams) -> Graph:
    """One LayerNorm over the last dim (cols) of a (batch, rows, cols) tensor: weight + bias, 5 flops per element."""
    b = TransformerBuilder("layernorm", {"input": (p.batch, p.rows, p.cols)}, dtype=p.dtype or "fp16")
    b.layernorm("input", name="layernorm")
    return b.build({"model": "layernorm", **p.model_dump()})


def gelu(p: GeluParams) -> Graph:
    """One GELU over a (batch, elements) tensor: 8 flops per element."""
    b = TransformerBuilder("gelu", {"input": (p.batch, p.elements)}, dtype=p.dtype or "fp16")
    b.gelu("input", name="gelu")
    return b.build({"model": "gelu", **p.model_dump()})


def rmsnorm(p: RowsColsParams) -> Graph:
    """One RMSNorm over the last dim (cols) of a (batch, rows, cols) tensor: weight only, 4 flops per element."""
    b = TransformerBuilder("rmsnorm", {"input": (p.batch, p.rows, p.cols)}, dtype=p.dtype or "fp16")
    b.rmsnorm("input", name="rmsnorm")
    return b.build({"model": "rmsnorm", **p.model_dump()})


def silu_mul(p: RowsColsParams) -> Graph:
    """silu(gate) · up of two (batch, rows, cols) inputs as ONE fused ELEMENTWISE op (fn "silu_mul"): reads both,
    writes one (batch, rows, cols) output; 5 flops per element (silu 4 + mul 1)."""
    shape = (p.batch, p.rows, p.cols)
    b = TransformerBuilder("silu_mul", {"gate": shape, "up": shape}, dtype=p.dtype or "fp16")
    b.vector(OpKind.ELEMENTWISE, ["gate", "up"], shape, "silu_mul", ACT_FLOPS["silu"] + 1, name="silu_mul")
    return b.build({"model": "silu_mul", **p.model_dump()})


def add(p: RowsColsParams) -> Graph:
    """a + b of two (batch, rows, cols) tensors (a residual add): one ELEMENTWISE op, 1 flop per element."""
    shape = (p.batch, p.rows, p.cols)
    b = TransformerBuilder("add", {"a": shape, "b": shape}, dtype=p.dtype or "fp16")
    b.add("a", "b", name="add")
    return b.build({"model": "add", **p.model_dump()})


def rope(p: RowsColsParams) -> Graph:
    """Rotary position embedding applied to a (batch, rows, cols) tensor: rows tokens, cols = the q and k heads'
    features side by side (as vLLM's / Sarathi-Serve's rotary_embedding kernel rotates q and k in place). One
    ELEMENTWISE op fn "rope" reading and writing every element once, 3 flops per element (x·cos + rotate(x)·sin);
    the per-token cos/sin row it also reads (head_dim values, 1/heads of the traffic) is left out."""
    b = TransformerBuilder("rope", {"input": (p.batch, p.rows, p.cols)}, dtype=p.dtype or "fp16")
    b.rope("input", name="rope")
    return b.build({"model": "rope", **p.model_dump()})


# ---- recommendation micro-workload (see accelsim.builders.recsys for the op convention) -----------------------
def embedding_bag(p: EmbeddingBagParams) -> Graph:
    """One embedding-bag look-up: (batch, pooling) indices into a (rows, dim) table, sum-pooled to (batch, dim).

    gather_rows = batch·pooling, vector_elems = batch·pooling·dim, flops = batch·(pooling − 1)·dim, params rows·dim.
    """
    b = RecsysBuilder("embedding_bag", {"input": (p.batch, p.pooling)}, dtype=p.dtype or "fp16")
    b.embedding_bag("input", p.rows, p.dim, access=p.access, zipf_alpha=p.zipf_alpha, name="embedding_bag")
    return b.build({"model": "embedding_bag", **p.model_dump()})
