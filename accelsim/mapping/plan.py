"""The value the lowering passes hand each other: one immutable :class:`Plan` per op, replaced, never mutated
(a NamedTuple: ``_replace`` is several times cheaper than ``dataclasses.replace`` on the ~10⁴ ops of an LLM)."""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

from ..errors import BudgetError
from ..ir import Op, Weight
from ..options import TASK_BYTES

NONE = ""  # the unit kind of an op that does no work (a view, a folded batch norm)
# ``details[BANDS]``: the cores of a split op that keeps its output on them in bands of rows, each core its own, or
# reads such bands where they lie (:func:`.choice.residency`); :mod:`.traffic` cuts it along M, the rows
BANDS = "bands"


class Plan(NamedTuple):
    """One op as the passes have lowered it so far."""

    op: Op
    index: int
    unit_kind: str = NONE  # the kind of unit that runs it (a key of hardware.UNIT_KINDS), NONE for no work
    cycles: int = 0  # compute cycles of the whole op on one unit (the cost model's)
    est: float = 0.0  # estimated duration for unit assignment (compute or main-memory traffic)
    units: tuple[int, ...] = ()  # the unit(s) its tile groups run on, round robin
    core: int | None = None  # the core of all its units (None when they span cores)
    inputs: tuple[str, ...] = ()  # physical tensors read (after aliasing)
    operands: tuple[tuple[str, ...], ...] = ()  # the physical tensors of each logical input, in order
    # per logical input, the fraction of each physical tensor it reads when that is less than all of it (a slice
    # view: a head's rotated features, q out of a fused q/k/v projection); () when every input reads all of them
    shares: tuple[dict[str, Fraction], ...] = ()
    resident_out: bool = False  # its output stays in its core's SRAM
    live_bytes: int = 0  # resident activations held in its core's SRAM while it runs
    weights: tuple[Weight, ...] = ()  # parameter tensors it loads: its own, plus a folded batch norm's shift
    # physical tensors its output path reads once, as it writes its output (a fused residual add's other operand,
    # :mod:`.fusion`); they are among ``inputs`` (for dependencies and residency) but not its matmul's operands
    epilogue: tuple[str, ...] = ()
    details: dict = {}  # what the cost model reckoned (report.json's ``mapping``); never mutated, so shareable

    @property
    def works(self) -> bool:
        """Whether the op runs on a unit (views and folded ops do not)."""
        return self.unit_kind != NONE


class TaskBudget(NamedTuple):
    """The most tasks a pass may have (``options.memory_budget`` over a task's bytes) and the words saying what
    holds them: lowering stops with :meth:`error` once a pass is sure to need more (:func:`~.choice.assign`, as
    its ops take their units; the emitter, as it builds their tasks)."""

    tasks: int
    note: str
    op_bytes: int = 0  # what the pass's ops take of the budget beside their tasks
    coarser: str = ""  # the options that would build fewer tasks a pass, where any would ("" at the coarsest)
    ops: int = 0  # the pass's ops

    def error(self, op: str, done: int = 0, *, least: bool = False) -> BudgetError:
        """The one-line error of a pass found to need more tasks at ``op``, the ``done``-th of its :attr:`ops`: the
        budget that would hold it, at the rate of tasks its first ``done`` ops built (TASK_BYTES a task, beside its
        ops' bytes); with ``least`` the count is the fewest tasks its ops' units allow (an op split over n units
        builds at least n), which no coarser tiling lowers."""
        estimate = ""
        ops = self.ops
        if 0 < done < ops:
            tasks = -(-(self.tasks + 1) * ops // done)
            estimate = f" (~{tasks:,} in all at the rate of its first {done:,} of {ops:,} ops: ~" \
                       f"{tasks * TASK_BYTES + self.op_bytes:,} B of budget)"
        elif done:
            estimate = f" (~{(self.tasks + 1) * TASK_BYTES + self.op_bytes:,} B of budget at the least)"
        coarsen = f", or coarsen the run ({self.coarser})" if self.coarser and not least else ""
        fewest = ", the fewest its ops' units allow," if least else ""
        return BudgetError(f"this pass needs more than {self.tasks:,} tasks{fewest} (at op {op!r}){estimate}, more "
                           f"than {self.note}; raise options.memory_budget{coarsen}")
