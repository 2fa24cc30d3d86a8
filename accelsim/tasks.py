"""The mapped program: coarse tasks (tile groups) on named units, with the dependencies between them.

The mapper (``accelsim.mapping``) produces a :class:`TaskGraph`; the engine (``accelsim.engine``) replays it. A
task occupies its unit for ``cycles`` and completes ``latency`` cycles later (a memory access's latency is
pipelined: the next transfer may start while this one is in flight). Memory tasks carry the ``nbytes`` they move
and the ``level`` they move them from or to; compute tasks carry the cycles their cost model gave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple


class TaskKind(IntEnum):
    """What a task does."""

    LOAD = 0  # memory level → SRAM
    COMPUTE = 1  # a unit works on data in SRAM
    STORE = 2  # SRAM → memory level
    LAUNCH = 3  # the host launches an op (a GPU kernel)
    JOIN = 4  # no unit, no time: done when all its dependencies are (one task stands for an op's many ends)
    DISPATCH = 5  # no unit: a kernel's device-side dispatch, ``cycles`` after its launch and inputs are ready


HOST_CPU = "host_cpu"  # the unit of the host's CPUs running an offloaded optimizer step (options.offload: optimizer_cpu)


class UnitKind(IntEnum):
    """What a unit is."""

    COMPUTE = 0  # systolic array or vector unit of a core
    MEMORY = 1  # bandwidth server of a memory level (shared by all cores)
    HOST = 2  # the host CPU that launches ops, one after another
    HOST_CPU = 3  # the host's CPUs running an offloaded optimizer step (options.offload: optimizer_cpu)


@dataclass(frozen=True, slots=True)
class Unit:
    """A resource that runs one task at a time: a compute unit of a core or a memory level's bandwidth server."""

    name: str
    kind: UnitKind
    core: int | None = None  # owning core (None for shared memory levels)
    level: str | None = None  # the memory level served, for MEMORY units
    macs_per_cycle: int = 0  # peak MACs per cycle (systolic arrays), for MAC utilisation
    group: str = ""  # for COMPUTE units: the core's unit it is one of ("systolic", "vector", or a listed unit)
    count: int = 1  # identical units this one stands for, working in lock-step (a GPU's SMs: one unit per kind)


class Task(NamedTuple):
    """One tile group's load, compute or store: ``cycles`` of occupancy on ``unit``, after ``deps`` finish.

    A NamedTuple rather than a frozen dataclass: the mapper makes one per task (hundreds of thousands for an LLM
    serving run) and a tuple is about three times cheaper to construct (measured: 0.48 µs vs 1.8 µs for these nine fields).
    """

    id: int
    op: int  # index of the op in TaskGraph.ops
    kind: TaskKind
    unit: int  # index into TaskGraph.units
    cycles: int
    deps: tuple[int, ...] = ()
    latency: int = 0
    nbytes: int = 0
    level: str | None = None


@dataclass(frozen=True, slots=True)
class OpMapping:
    """How one op was mapped: where it runs, its modelled compute cycles and its traffic by level."""

    name: str
    kind: str  # OpKind value
    fn: str
    unit: str  # name of the compute unit ("core0.systolic0"), or "none" for views
    core: int | None
    macs: int
    flops: int
    compute_cycles: int
    tiles: int  # tile groups (compute tasks) the op was split into
    bytes: dict[str, int] = field(default_factory=dict)  # level → bytes moved at that level
    mapping: dict[str, object] = field(default_factory=dict)  # unit-specific details (folds, tiling, ...)


@dataclass(frozen=True, slots=True)
class TableSplit:
    """How a gathered embedding table is split over the memories: ``rows_at[level]`` hottest rows at each level
    but the ``last`` (which holds the rest), serving ``hits_at[level]`` of the look-ups."""

    rows: int
    rows_at: dict[str, int]
    hits_at: dict[str, float]
    last: str

    def gathered(self, n: int) -> dict[str, int]:
        """Of ``n`` look-ups, how many hit each level (rounded; the last level takes the remainder)."""
        out = {lv: round(n * h) for lv, h in self.hits_at.items()}
        out[self.last] = n - sum(out.values())
        return out

    def levels(self) -> tuple[str, ...]:
        """The memories holding some of its rows, innermost first (the ``last`` only when rows are left for it)."""
        inner = tuple(lv for lv, r in self.rows_at.items() if r > 0)
        return inner + ((self.last,) if sum(self.rows_at.values()) < self.rows and self.last not in inner else ())

    def bytes_at(self, nbytes: int, level: str) -> int:
        """Bytes of the ``nbytes`` table held at ``level``."""
        if level != self.last:
            return nbytes * self.rows_at.get(level, 0) // self.rows
        return nbytes - sum(nbytes * r // self.rows for r in self.rows_at.values())


@dataclass(frozen=True, slots=True)
class TaskGraph:
    """Tasks in a valid execution order (every dep has a smaller id), the units they run on and per-op mapping."""

    tasks: tuple[Task, ...]
    units: tuple[Unit, ...]
    ops: tuple[OpMapping, ...]
    placement: dict[str, str] = field(default_factory=dict)  # tensor/table name → memory level
    tables: dict[str, TableSplit] = field(default_factory=dict)  # gathered table → its split over the memories
    stash_level: str = ""  # where a training step keeps the activations stashed for the backward pass
    peak_activation_bytes: int = 0  # the largest op's activations, held in HBM while it runs
    execution: str = ""  # how the host dispatched the kernels: "eager", "cuda_graph", or "" (no host time)
    kernel_order: str = ""  # when a GPU kernel may start: "stream", "dataflow", or "" (no dispatch: not a GPU)
    offload: str = ""  # the training state options.offload put in the second memory: "optimizer", "optimizer_cpu",
    # "activations" or ""
    data_parallel: int = 1  # the chips each gradient is reduced over (mapping.data_parallel; 1 outside training)
    # the data-parallel gradient reduction's tasks (Emitter._reduce_gradients, emitted as one block at the first
    # optimizer step and attributed to the steps they serve): ids first..end-1; (0, 0) when there is none
    grad_reduce: tuple[int, int] = (0, 0)
    # bytes of the parameters' copy the host's CPU updates in the second memory (options.offload: optimizer_cpu on a
    # step with no fp32 master state: mapping.placement.host_param_copy), reported with its optimizer states
    host_copy_bytes: int = 0

    def __len__(self) -> int:
        return len(self.tasks)
