"""Collectives on the chip interconnect: an all-reduce, all-gather, reduce-scatter or all-to-all of B bytes over
G chips, priced by the interconnect's model (:meth:`accelsim.hardware.Interconnect.all_reduce_seconds` and its
siblings: the ring/fully-connected formula or NCCL's)."""

from __future__ import annotations

import math

from ..hardware import Arch

KINDS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all")


def wire_fraction(kind: str, group: int) -> float:
    """Bytes each chip sends per byte of the buffer: NCCL-tests' bus-bandwidth factor (its PERFORMANCE.md):
    all-reduce 2(n-1)/n, all-gather / reduce-scatter / all-to-all (n-1)/n."""
    if group <= 1:
        return 0.0
    return (2 if kind == "all_reduce" else 1) * (group - 1) / group


def seconds(arch: Arch, kind: str, nbytes: int, group: int) -> float:
    """Time of one ``kind`` collective of ``nbytes`` (per chip) over ``group`` chips of ``arch``."""
    ic = arch.interconnect
    if ic is None or group <= 1 or nbytes <= 0:
        return 0.0
    if kind == "all_reduce":
        return ic.all_reduce_seconds(nbytes, group)
    if kind == "reduce_scatter":
        return ic.reduce_scatter_seconds(nbytes, group)
    # all-gather; all-to-all sends the same (n-1)/n of the buffer, each piece to its own peer
    return ic.all_gather_seconds(nbytes, group)


def price(arch: Arch, kind: str, nbytes: int, group: int) -> tuple[int, float, int]:
    """(cycles, seconds, bytes each chip sends) of one ``kind`` collective of ``nbytes`` over ``group`` chips."""
    if kind not in KINDS:
        raise ValueError(f"unknown collective {kind!r}; known: {', '.join(KINDS)}")
    s = seconds(arch, kind, nbytes, group)
    return math.ceil(s * arch.clock_hz), s, math.floor(wire_fraction(kind, group) * nbytes)


def all_reduce(arch: Arch, nbytes: int, group: int) -> tuple[int, float, int]:
    """(cycles, seconds, bytes each chip sends) of an all-reduce of ``nbytes`` over ``group`` chips."""
    return price(arch, "all_reduce", nbytes, group)
