"""Peak power from the trace: each op's dynamic energy spread over its tasks' busy time, the busiest window."""

from __future__ import annotations

import numpy as np

WINDOWS = 100  # the sliding window is 1/WINDOWS of the run, evaluated at 2·WINDOWS + 1 positions


def peak_dynamic_power(op_j: np.ndarray, task_op: np.ndarray, start: np.ndarray, occ: np.ndarray,
                       total_cycles: int, clock_hz: float) -> float:
    """W of dynamic power in the busiest window of ``total_cycles / WINDOWS`` cycles.

    ``op_j[i]``: op i's dynamic energy; the tasks (op index, start cycle, busy cycles; pass only the tasks that
    do an op's work) share it in proportion to their busy cycles and spend it evenly while busy. The energy
    drawn by cycle x is piecewise linear in x (exact at the tasks' starts and ends), so each window's energy
    is a difference of two interpolations."""
    if total_cycles <= 0 or not len(occ):
        return 0.0
    keep = occ > 0
    if not keep.all():  # (most runs have no idle task: no copies then)
        if not keep.any():
            return 0.0
        task_op, start, occ = task_op[keep], start[keep], occ[keep]
    start, occ = start.astype(np.float64), occ.astype(np.float64)
    op_busy = np.bincount(task_op, weights=occ, minlength=len(op_j))
    rate = op_j[task_op] / op_busy[task_op]  # J per cycle while the task is busy
    times = np.concatenate([start, start + occ])
    deltas = np.concatenate([rate, -rate])
    order = np.argsort(times, kind="stable")
    times, deltas = times[order], deltas[order]
    level = deltas.cumsum()  # J per cycle after each breakpoint
    drawn = np.zeros(len(times))  # J drawn by each breakpoint
    (level[:-1] * (times[1:] - times[:-1])).cumsum(out=drawn[1:])
    window = max(total_cycles / WINDOWS, 1.0)
    lefts = np.linspace(0.0, max(total_cycles - window, 0.0), 2 * WINDOWS + 1)
    spent = np.interp(lefts + window, times, drawn) - np.interp(lefts, times, drawn)
    return float(spent.max()) / (window / clock_hz)
