"""Micro-workloads: a single GEMM or a single convolution, for cost-model checks and sweeps.

* ``gemm``: one LINEAR op computing (batch·m × k) · (k × n)ᵀ: input (batch·m, k), weight (n, k) [+ bias (n,)].
  ``batch`` stacks the rows of ``batch`` independent inputs against the same weight, so MACs = batch·m·n·k.
* ``conv2d``: one CONV op with every ``torch.nn.Conv2d`` argument; input (batch, in_channels, height, width).
  ``padding_mode`` is accepted and ignored (it changes the values padded in, not the work).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..ir import Graph
from .layers import INPUT, GraphBuilder

if TYPE_CHECKING:
    from .registry import Conv2dParams, GemmParams


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
