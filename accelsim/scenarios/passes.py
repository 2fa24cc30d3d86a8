"""One simulation of one graph (a *pass*) as typed figures, and the op rows and totals a composed report is
built from.

A plain run is one pass and its report is :func:`accelsim.report.build_report`'s dict as is. A serving run (a
prefill and decode steps) or a pipeline-parallel iteration (stages × micro-batches) is several passes composed: each
pass becomes a :class:`Pass` (its additive work per op, its busy cycles per op and unit, its timing), the scenario
decides how many times the run executes each op of each pass (its *count*), and :func:`compose_ops` turns that into
the composed report's op rows and its totals, so that the totals are the sums of the rows by construction:

* an op row of a composed report is one op of a simulated pass; its work and traffic (``macs``, ``flops``,
  ``bytes``, ``stall_cycles``, ``stalls_by_level``) are summed over the ``count`` executions it stands for, while
  its timing (``start_cycle``, ``end_cycle``, ``compute_cycles``, ``tiles``) and per-execution ratios
  (``arithmetic_intensity``, ``achieved_flops_per_s``, ``bound``) describe one execution;
* the report's ``macs``, ``flops``, ``bytes``, ``stall_cycles`` and ``stalls_by_level`` are the sums of its rows;
  ``stall_cycles`` is the sum of ``stalls_by_level``, as in a plain run;
* a unit's busy cycles are its tasks' cycles counted with the same counts (:func:`counted_busy`), so MAC
  utilisation and the arrays' busy fraction are over the same work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from ..errors import BudgetError
from ..options import KEPT_PASS_BYTES, KEPT_ROW_BYTES, STEP_BYTES, TRACE_TASK_BYTES, Options, memory_budget
from ..tasks import TaskGraph, UnitKind


@dataclass(frozen=True)
class Work:
    """The additive figures of one op (or of a sum of ops): what a composition counts, sums and interpolates.
    ``stalls`` are stall cycles by memory level (their sum is the op's ``stall_cycles``)."""

    macs: float = 0
    flops: float = 0
    bytes: Mapping[str, float] = field(default_factory=dict)
    stalls: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> Work:
        """The work of one op row of a pass's report."""
        return cls(row["macs"], row["flops"], dict(row["bytes"]), dict(row["stalls_by_level"]))

    @property
    def stall_cycles(self) -> float:
        return sum(self.stalls.values())

    def __add__(self, other: Work) -> Work:
        return Work(self.macs + other.macs, self.flops + other.flops, _add(self.bytes, other.bytes),
                    _add(self.stalls, other.stalls))

    def times(self, count: float) -> Work:
        """This work done ``count`` times (exact for an integer count)."""
        return Work(count * self.macs, count * self.flops, {lv: count * v for lv, v in self.bytes.items()},
                    {lv: count * v for lv, v in self.stalls.items()})

    @staticmethod
    def combination(terms: Iterable[tuple[Work, float]]) -> Work:
        """Σ weight · work over ``(work, weight)`` terms."""
        macs = flops = 0.0
        nbytes: dict[str, float] = {}
        stalls: dict[str, float] = {}
        for w, c in terms:
            macs += c * w.macs
            flops += c * w.flops
            for lv, v in w.bytes.items():
                nbytes[lv] = nbytes.get(lv, 0) + c * v
            for lv, v in w.stalls.items():
                stalls[lv] = stalls.get(lv, 0) + c * v
        return Work(macs, flops, nbytes, stalls)

    def stalls_at_least_zero(self) -> Work:
        """This work with negative stall cycles (of an extrapolated op) set to 0."""
        if all(v >= 0 for v in self.stalls.values()):
            return self
        return Work(self.macs, self.flops, self.bytes, {lv: max(v, 0) for lv, v in self.stalls.items()})

    def rounded(self) -> Work:
        """Every figure as an integer (for interpolated, fractional counts)."""
        return Work(round(self.macs), round(self.flops), {lv: round(v) for lv, v in self.bytes.items()},
                    {lv: round(v) for lv, v in self.stalls.items()})


def _add(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


MOE_COUNTS = ("moe_layers", "total_params", "active_params", "active_params_non_embedding")  # report.json's moe
# figures of the whole model, affine in its layers like params (the rest, experts, top-k and one MoE layer's routing,
# are alike in every layer sample)


@dataclass(frozen=True)
class Timing:
    """The figures of a pass that are not sums over its ops: its time and what it holds.

    ``cycles`` and ``seconds`` are the whole pass; ``launch_s`` the time its launches add (report.json's launch_overhead_s); ``params`` the
    parameters of this graph (one chip's share of the model), ``model_params`` the whole model's (the report's
    ``params``); ``phases``, ``memory`` and ``placement`` the report's objects of those names; ``held`` the bytes
    the memory notes say apart (:func:`accelsim.report.summary.held_bytes`) and ``offload`` the training state
    ``options.offload`` moved (:func:`accelsim.report.summary.spill_notes` makes the notes of the footprint)."""

    cycles: int
    seconds: float
    launch_s: float
    params: int
    model_params: int
    phases: Mapping[str, Mapping[str, int]]
    memory: Mapping[str, Mapping[str, float]]
    placement: Mapping[str, object]
    active_s: float = 0.0  # seconds in which the chip does some op's work (report.json's active_fraction × seconds)
    stash_bytes: int = 0  # a training step's activations kept for the backward pass, in memory stash_level
    stash_level: str = ""  # where they are kept: the main memory, or the next one out with options.offload
    held: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    offload: str = ""
    compute_active_s: float | None = None  # of active_s, the seconds before compute_end (None: all of them)
    moe: Mapping[str, int] = field(default_factory=dict)  # the report's moe counts that grow with the layers
    # (:data:`MOE_COUNTS`): a layer-sampled pass's are extrapolated, as model_params is (probe p49)
    last_backward_end: int | None = None  # cycles from its start to the end of the backward pass of the iteration's
    # last micro-batch where that differs from compute_end (it reduces the gradients as its backward makes them:
    # pipeline._with_last_micro_batch); None: compute_end
    tail_reduce: int | None = None  # of optimizer_tail, the cycles the gradient reductions take (None: from phases)

    @property
    def compute_end(self) -> int:
        """Cycles to the end of the backward phase (a training step), else the whole pass: the part that runs once
        per micro-batch in a pipeline; the rest is the optimizer tail."""
        backward = self.phases.get("backward")
        return int(backward["end_cycle"]) if backward else self.cycles

    @property
    def optimizer_tail(self) -> int:
        return max(self.cycles - self.compute_end, 0)

    @property
    def forward_end(self) -> int:
        """Cycles to the end of the forward phase of one micro-batch (a training step), else the whole pass."""
        forward = self.phases.get("forward")
        return int(forward["end_cycle"]) if forward else self.compute_end

    @property
    def grads_ready(self) -> int:
        """Cycles from the start of the iteration's last micro-batch to the end of its backward pass: when this
        pass's gradients are all computed (before their data-parallel reduction and the optimizer step)."""
        return self.compute_end if self.last_backward_end is None else self.last_backward_end

    @property
    def reduce_in_tail(self) -> int:
        """Of :attr:`optimizer_tail`, the cycles the data-parallel gradient reductions add: from the end of the
        backward pass to the end of the last reduction (``phases.grad_reduce``; the steps wait for it), what a
        reduction overlapping the backward pass leaves after it; 0 without data parallelism."""
        if self.tail_reduce is not None:
            return min(max(self.tail_reduce, 0), self.optimizer_tail)
        reduce = self.phases.get("grad_reduce")
        if not reduce:
            return 0
        end = min(int(reduce["end_cycle"]), self.cycles)
        return max(end - max(int(reduce["start_cycle"]), self.compute_end), 0)

    @property
    def micro_active_s(self) -> float:
        """Seconds of the part that runs once per micro-batch in which the chip does some op's work."""
        return self.active_s if self.compute_active_s is None else min(self.compute_active_s, self.active_s)

    @property
    def tail_active_s(self) -> float:
        """Seconds of the optimizer tail in which the chip does some op's work."""
        return self.active_s - self.micro_active_s


@dataclass(frozen=True)
class Pass:
    """One simulated pass: its report (the descriptive fields and the op rows a composed report shows), its work
    per op (aligned with ``report["ops"]``), its timing, and (from its task graph ``tg``) its busy cycles per unit
    and per op and unit."""

    report: Mapping[str, Any]
    work: tuple[Work, ...]
    units: tuple[str, ...]
    timing: Timing
    tasks: int
    events: int
    tg: TaskGraph | None = field(repr=False, compare=False)  # None once dropped (:meth:`without_tasks`)
    host_units: tuple[str, ...] = ()  # the units that launch kernels (the host), of ``units``
    attention: frozenset[str] = frozenset()  # its unfused attention ops' names (summary.unfused_attention_names)
    device_ends: Mapping[str | None, int] = field(default_factory=dict)  # with a host: each phase's end (None: the
    # pass's, outside training) with the launches taking no time (summary.device_phase_ends: the device's own time)

    def without_tasks(self) -> Pass:
        """This pass without its task graph (a large run's passes need not all stay in memory): :attr:`busy`
        is no longer available unless it was computed before."""
        kept = {k: v for k, v in self.__dict__.items() if k == "busy"}  # a cached busy survives
        out = replace(self, tg=None)
        out.__dict__.update(kept)
        return out

    @classmethod
    def of(cls, report: Mapping[str, Any], tg: TaskGraph, params: int, stash: int = 0,
           held: Mapping[str, Mapping[str, float]] | None = None, attention: frozenset[str] = frozenset()) -> Pass:
        """The pass that produced ``report`` from task graph ``tg``; ``params`` are its graph's parameters,
        ``stash`` the activations it keeps for the backward pass (where ``tg.stash_level`` says), ``held`` the
        bytes its memory notes say apart, ``attention`` its unfused attention ops' names."""
        timing = Timing(cycles=int(report["total_cycles"]), seconds=float(report["seconds"]), stash_bytes=stash,
                        stash_level=tg.stash_level, held=held or {}, offload=tg.offload,
                        launch_s=float(report.get("launch_overhead_s", 0.0)), params=params,
                        active_s=float(report.get("active_fraction", 1.0)) * float(report["seconds"]),
                        model_params=int(report["params"]),
                        phases=report.get("phases") or {}, memory=report.get("memory") or {},
                        placement=report.get("placement") or {},
                        moe={k: int(v) for k, v in (report.get("moe") or {}).items() if k in MOE_COUNTS})
        return cls(report, tuple(Work.of_row(r) for r in report["ops"]), tuple(u.name for u in tg.units), timing,
                   int(report["simulation"]["tasks"]), int(report["simulation"]["events"]), tg,
                   tuple(u.name for u in tg.units if u.kind is UnitKind.HOST), attention)

    @property
    def unit_busy(self) -> np.ndarray:
        """Busy cycles per unit over the whole pass (the report's utilisation × its cycles), shape (1, units)."""
        util = self.report["utilization"]
        return np.array([[util[u] * self.timing.cycles for u in self.units]])

    @cached_property
    def busy(self) -> np.ndarray:
        """Busy cycles per op and unit, shape (ops, units): the cycles each op's tasks occupied each unit."""
        if self.tg is None:
            raise ValueError("this pass's task graph was dropped before its busy cycles were computed")
        tasks, n_ops, n_units = [t for t in self.tg.tasks if t.unit >= 0], len(self.tg.ops), len(self.units)
        cell = np.fromiter((t.op * n_units + t.unit for t in tasks), dtype=np.int64, count=len(tasks))
        occ = np.fromiter((t.cycles for t in tasks), dtype=np.float64, count=len(tasks))
        return np.bincount(cell, weights=occ, minlength=n_ops * n_units).reshape(n_ops, n_units)

    @property
    def rows(self) -> Sequence[Mapping[str, Any]]:
        return self.report["ops"]

    @property
    def phase_of_op(self) -> list[str | None]:
        """Each op's training phase (forward, backward, optimizer), None outside training."""
        return [(r.get("mapping") or {}).get("phase") for r in self.rows]


class Kept:
    """What a composed run (LLM serving, a pipeline, a diffusion pipeline) keeps of its simulated passes until its
    report is made, against ``options.memory_budget``: each pass's figures and op rows (:data:`~accelsim.options.
    KEPT_PASS_BYTES` + :data:`~accelsim.options.KEPT_ROW_BYTES` a row) and, with ``options.trace``, its task graph
    and trace for trace.json (:data:`~accelsim.options.TRACE_TASK_BYTES` a task), beside the report's value for each
    of ``steps`` decode steps (:data:`~accelsim.options.STEP_BYTES` each, an LLM serving run's step_cycles).
    Lowering checks each pass alone; this checks what they keep together, as each is simulated: ``advice`` says how
    to keep less."""

    def __init__(self, options: Options, advice: str, steps: int = 0) -> None:
        self.trace, self.advice, self.steps = options.trace, advice, steps
        self.budget, self.words = memory_budget(options, f"{KEPT_ROW_BYTES} B a kept op row, ~{KEPT_PASS_BYTES} B a "
                                                f"pass" + (f", ~{TRACE_TASK_BYTES} B a traced task" if self.trace else ""))
        self.bytes, self.passes = steps * STEP_BYTES, 0  # passes of the run (each maybe several runs: layer samples)

    def expect(self, passes: int) -> None:
        """Refuse a run of ``passes`` passes before any is simulated when their figures alone, without a row, would
        keep more than the budget."""
        need = self.bytes + passes * KEPT_PASS_BYTES
        if need > self.budget:
            steps = f" and ~{STEP_BYTES} B for each of its {self.steps:,} decode steps" if self.steps else ""
            raise self._error(passes, need, f"~{KEPT_PASS_BYTES} B a pass before its op rows{steps}")

    def keep(self, runs: Sequence[Pass], *, alike: int = 0, what: str = "a pass", traced: int = -1,
             samples: bool = False) -> None:
        """Count the passes ``runs`` (a pass, or the layer samples standing for it) as kept, with the task graphs
        of the first ``traced`` of them (all by default) under ``options.trace``; a run that would keep more than
        the budget with them and ``alike`` more like them to come is refused (a one-line MappingError) before it
        simulates those. With ``samples``, ``runs`` are the 1- and 2-layer samples of one pass, counted (and named
        in the refusal) as that one pass."""
        rows = sum(len(r.rows) for r in runs)
        tasks = sum(r.tasks for r in runs[:traced if traced >= 0 else len(runs)]) if self.trace else 0
        each = len(runs) * KEPT_PASS_BYTES + rows * KEPT_ROW_BYTES + tasks * TRACE_TASK_BYTES
        self.bytes += each
        self.passes += 1 if samples else len(runs)
        need = self.bytes + alike * each
        if need <= self.budget:
            return
        for_trace = f" and {tasks:,} tasks for the trace" if tasks else ""
        # counted in the run's passes (a prefill, a decode step): with layer samples each is simulated twice, as a
        # 1- and a 2-layer model, whose op rows are what it keeps
        of = " of its 1- and 2-layer samples" if samples else ""
        each_as = ", each simulated as a 1- and a 2-layer sample (options.layer_samples)" if samples else ""
        raise self._error(self.passes + alike * (1 if samples else len(runs)), need,
                          f"{what}: ~{each:,} B, {rows:,} op rows{of}{for_trace}", each_as)

    def _error(self, passes: int, need: int, why: str, each_as: str = "") -> BudgetError:
        return BudgetError(f"this run keeps every simulated pass until its report is made: its {passes:,} passes"
                            f"{each_as} would keep ~{need:,} B ({why}), more than {self.words} holds; {self.advice}")


def keep_less(options: Options) -> str:
    """How a run of a few passes (a pipeline's stages, a diffusion pipeline's parts) refused by :class:`Kept` keeps
    less: only its trace grows with the passes' tasks."""
    return ("leave out options.trace (each pass's task graph is kept for trace.json), or raise options.memory_budget"
            if options.trace else "raise options.memory_budget")


def counted_busy(parts: Iterable[tuple[Sequence[str], np.ndarray, Sequence[float]]]) -> dict[str, float]:
    """Busy cycles per unit of ``(unit names, busy cycles per op and unit, per-op counts)`` parts: every op's busy
    cycles times its count."""
    out: dict[str, float] = {}
    for units, busy, counts in parts:
        per_unit = np.asarray(counts, dtype=np.float64) @ busy if len(counts) else np.zeros(len(units))
        for name, b in zip(units, per_unit, strict=True):
            out[name] = out.get(name, 0.0) + float(b)
    return out


def composed_bandwidth_share(levels: Sequence[dict], moved: dict[str, int], seconds: float,
                             chips: int = 1) -> dict[str, float]:
    """A composed report's ``bandwidth_share``: each bounded level's (report.json ``levels``, bandwidth not null)
    ``moved`` bytes over its bandwidth × ``seconds`` × the ``chips`` the bytes were moved on (a pipeline's P stage
    chips: a chip's average, as ``utilization`` is). One pass's share over that pass's time is not the run's (probes
    p73 #1, p81 #5, p86 #1: a serving run's first pass read 62.3 % where its bytes and seconds give 96.7 %)."""
    return {lv["name"]: moved.get(lv["name"], 0) / (lv["bandwidth"] * chips * seconds) if seconds else 0.0
            for lv in levels if lv.get("bandwidth")}


@dataclass(frozen=True)
class Rows:
    """Op rows for a composed report: the rows of ``shown`` (placed at ``offset`` on the report's timeline and
    tagged with ``tags``), each accounting for ``work[i]``, the work of its ``counts[i]`` executions."""

    shown: Pass
    work: Sequence[Work]
    counts: Sequence[int]
    tags: Mapping[str, object] = field(default_factory=dict)
    offset: int = 0


@dataclass(frozen=True)
class Totals:
    """The sums over a composed report's op rows."""

    macs: int
    flops: int
    bytes: dict[str, int]
    stalls_by_level: dict[str, int]

    @property
    def stall_cycles(self) -> int:
        return sum(self.stalls_by_level.values())


def compose_ops(parts: Sequence[Rows]) -> tuple[list[dict], Totals]:
    """The op rows of a composed report and their sums (see the module docstring). Every level a part's report
    lists in ``bytes``/``stalls_by_level`` appears in the totals, zero or not."""
    rows: list[dict] = []
    levels = [lv for part in parts for lv in part.shown.report["bytes"]]
    stall_levels = [lv for part in parts for lv in part.shown.report["stalls_by_level"]]
    macs = flops = 0
    nbytes = dict.fromkeys(levels, 0)
    stalls = dict.fromkeys(stall_levels, 0)
    for part in parts:
        for row, work, count in zip(part.shown.rows, part.work, part.counts, strict=True):
            w = work.rounded()
            rows.append({**row, **part.tags, "count": count, "macs": w.macs, "flops": w.flops, "bytes": w.bytes,
                         "stall_cycles": sum(w.stalls.values()), "stalls_by_level": w.stalls,
                         "start_cycle": row["start_cycle"] + part.offset, "end_cycle": row["end_cycle"] + part.offset,
                         **({"ready_cycle": row["ready_cycle"] + part.offset} if "ready_cycle" in row else {})})
            macs += w.macs
            flops += w.flops
            for lv, v in w.bytes.items():
                nbytes[lv] = nbytes.get(lv, 0) + v
            for lv, v in w.stalls.items():
                stalls[lv] = stalls.get(lv, 0) + v
    return rows, Totals(macs, flops, nbytes, stalls)

