"""Peak power from the trace: each op's dynamic energy drawn by the tasks that spend it, the busiest window.

An op's energy has parts (:func:`task_pools`): its compute (MACs, vector FLOPs, the array's own operand movement and
the scratchpad accesses its arrays make) is drawn by its COMPUTE tasks, and each memory level's byte energy by the
LOAD and STORE tasks that move bytes at that level; a part no task of its kind carries (an op whose bytes have no
task at that level) is spread over all the op's work tasks. Within a part the tasks share it in proportion to
their busy cycles and spend it evenly while busy.
"""

from __future__ import annotations

import numpy as np

WINDOWS = 100  # the sliding window is 1/WINDOWS of the run, evaluated at 2·WINDOWS + 1 positions
COMPUTE_PART = 0  # task_pools' part of a COMPUTE task; a memory task's is 1 + its level's column
NO_PART = -1  # a work task that is neither (it draws only what its op's parts leave to all its tasks)


def task_pools(compute_j: np.ndarray, level_j: np.ndarray, task_op: np.ndarray, task_part: np.ndarray,
               occ: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pool J, the pool of each drawing task, the index of that task in the columns) of the work tasks
    (``task_op``: op index; ``task_part``: :data:`COMPUTE_PART`, 1 + a column of ``level_j``, or :data:`NO_PART`;
    ``occ``: busy cycles: a task busy for none draws nothing).

    ``compute_j[i]``: op i's compute energy; ``level_j[i, k]``: its bytes' energy at level k. Pool
    ``i·(L+1) + part`` holds op i's part; a part whose tasks are absent goes to pool ``n·(L+1) + i``, drawn by
    every work task of op i (so a task may draw from two pools: it is listed twice)."""
    n, levels = level_j.shape
    width = levels + 1
    parts = np.concatenate([compute_j[:, None], level_j], axis=1)  # (n, L + 1)
    busy = occ > 0
    index = np.nonzero(busy & (task_part >= 0))[0]
    pool = task_op[index] * width + task_part[index]
    has_task = np.zeros(n * width, dtype=bool)
    has_task[pool] = True
    orphan = np.where(has_task.reshape(n, width), 0.0, parts)
    left = orphan.sum(axis=1)  # J per op no task of its part draws
    pool_j = np.concatenate([(parts - orphan).ravel(), left])
    if left.any():
        spread = np.nonzero(busy & (left[task_op] > 0))[0]
        index = np.concatenate([index, spread])
        pool = np.concatenate([pool, n * width + task_op[spread]])
    return pool_j, pool, index


def _drawn(op_j: np.ndarray, task_op: np.ndarray, start: np.ndarray,
           occ: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(breakpoints, J drawn by each) of the pools ``op_j`` drawn by the tasks (pool index, start, busy cycles):
    the energy drawn by cycle x is piecewise linear in x, exact at the tasks' starts and ends; None without a busy
    task."""
    keep = occ > 0
    if not keep.all():  # (most runs have no idle task: no copies then)
        if not keep.any():
            return None
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
    return times, drawn


def window_energy(op_j: np.ndarray, task_op: np.ndarray, start: np.ndarray, occ: np.ndarray,
                  lefts: np.ndarray, window: float) -> np.ndarray:
    """J the pools ``op_j`` (drawn by the tasks: pool index, start cycle, busy cycles) spend in each window of
    ``window`` cycles starting at ``lefts``; each window's energy is a difference of two interpolations."""
    curve = _drawn(op_j, task_op, start, occ) if len(occ) else None
    if curve is None:
        return np.zeros(len(lefts))
    times, drawn = curve
    return np.interp(lefts + window, times, drawn) - np.interp(lefts, times, drawn)


def peak_dynamic_power(op_j: np.ndarray, task_op: np.ndarray, start: np.ndarray, occ: np.ndarray,
                       total_cycles: int, clock_hz: float) -> float:
    """W of dynamic power in the busiest window of ``total_cycles / WINDOWS`` cycles.

    ``op_j[i]``: the energy of pool i (an op, or one part of it: :func:`task_pools`); the tasks (pool index, start
    cycle, busy cycles; pass only the tasks that draw it) share it in proportion to their busy cycles and spend it
    evenly while busy."""
    if total_cycles <= 0 or not len(occ):
        return 0.0
    window = max(total_cycles / WINDOWS, 1.0)
    lefts = np.linspace(0.0, max(total_cycles - window, 0.0), 2 * WINDOWS + 1)
    spent = window_energy(op_j, task_op, start, occ, lefts, window)
    return float(spent.max()) / (window / clock_hz)
