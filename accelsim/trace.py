"""What happened in a simulation: when each task ran and how long its unit waited for data.

A :class:`Trace` is columns of numpy arrays indexed by task id (the engine fills them once and freezes them).
``stall[i]`` is the cycles task ``i``'s unit sat idle waiting for a memory task that finished late, and
``stall_level[i]`` is the index into ``levels`` of that memory level (-1 when the task did not stall).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Trace:
    """Start, end and stall cycles of every task of a TaskGraph (arrays of length ``len(tasks)``)."""

    start: np.ndarray
    end: np.ndarray
    stall: np.ndarray
    stall_level: np.ndarray
    levels: tuple[str, ...]
    events: int  # SimPy events processed
    # the TaskGraph's own columns, by task id (op index, unit index, cycles, TaskKind value), as the engine read
    # them, so the report does not transpose 10^5 tasks in Python again; None in a trace built without them
    op: np.ndarray | None = None
    unit: np.ndarray | None = None
    cycles: np.ndarray | None = None
    kind: np.ndarray | None = None

    @property
    def total_cycles(self) -> int:
        """Cycle at which the last task completed."""
        return int(self.end.max()) if len(self.end) else 0

    def __post_init__(self) -> None:
        for arr in (self.start, self.end, self.stall, self.stall_level, self.op, self.unit, self.cycles, self.kind):
            if arr is not None:
                arr.setflags(write=False)
