"""Collectives on the chip interconnect: an all-reduce of B bytes over G chips, priced by the interconnect's
model (:meth:`accelsim.hardware.Interconnect.all_reduce_seconds`: the ring/fully-connected formula or NCCL's)."""

from __future__ import annotations

import math

from ..hardware import Arch


def all_reduce(arch: Arch, nbytes: int, group: int) -> tuple[int, float, int]:
    """(cycles, seconds, bytes each chip sends) of an all-reduce of ``nbytes`` over ``group`` chips."""
    seconds = arch.interconnect.all_reduce_seconds(nbytes, group)  # type: ignore[union-attr]
    return math.ceil(seconds * arch.clock_hz), seconds, 2 * (group - 1) * nbytes // group
