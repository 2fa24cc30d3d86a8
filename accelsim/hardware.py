"""The architecture: a frozen, validated description of a chip (pydantic v2 models are the one definition).

A chip (:class:`Arch`) has ``cores`` identical :class:`Core` s, each with one or more systolic arrays
(:class:`SystolicArray`), a vector unit (:class:`VectorUnit`) and an SRAM scratchpad (:class:`Sram`); the cores
share the chip's HBM/DRAM (:class:`Memory`) and reach host memory over a link (``host``). Sizes, bandwidths,
clocks and latencies accept unit strings ("24MiB", "34GB/s", "700MHz", "100ns"); values are stored in base
units (bytes, bytes/s, Hz, s) and the derived per-cycle figures are properties.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PositiveInt, model_validator

from .units import DTYPE_BYTES, parse_bandwidth, parse_frequency, parse_size, parse_time

Bytes = Annotated[int, BeforeValidator(parse_size), Field(ge=0)]
BytesPerSecond = Annotated[float, BeforeValidator(parse_bandwidth), Field(gt=0)]
Hertz = Annotated[float, BeforeValidator(parse_frequency), Field(gt=0)]
Seconds = Annotated[float, BeforeValidator(parse_time), Field(ge=0)]
Dtype = Literal[tuple(DTYPE_BYTES)]  # type: ignore[valid-type]
Dataflow = Literal["ws", "os", "is"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SystolicArray(_Model):
    """A rows×cols grid of MAC units running one dataflow (SCALE-Sim's compute model); ``count`` per core."""

    rows: PositiveInt
    cols: PositiveInt
    dataflow: Dataflow = "ws"
    count: PositiveInt = 1
    preload_overlap: bool = False  # double-buffered stationary operand: next fold's preload overlaps this fold

    @property
    def macs_per_cycle(self) -> int:
        """Peak MACs per cycle of all ``count`` arrays."""
        return self.rows * self.cols * self.count


DEFAULT_VECTOR_COSTS: dict[str, float] = {
    # cycles per element per lane for each vector function; "default" prices anything not listed.
    # One pass per simple arithmetic op; transcendental functions as a few passes (a multi-cycle unit).
    "default": 1.0,
    "relu": 1.0,
    "relu6": 1.0,
    "add": 1.0,
    "mul": 1.0,
    "max": 1.0,
    "avg": 1.0,
    "batchnorm": 2.0,  # scale and shift
    "hardsigmoid": 2.0,
    "hardswish": 3.0,
    "sigmoid": 4.0,
    "silu": 4.0,
    "gelu": 8.0,
    "exp": 4.0,
    "div": 4.0,
    "tanh": 4.0,
    "quick_gelu": 4.0,
    "softmax": 10.0,  # max, subtract, exp (4), sum, divide (4 → ×1 with a reciprocal: kept at 4 to be safe)
    "layernorm": 6.0,  # mean, variance (2), normalise, scale, shift; per-row rsqrt amortised
    "rmsnorm": 4.0,  # mean square (2), normalise, scale
    "rope": 3.0,  # x·cos + rotate(x)·sin
    "embedding": 0.0,  # a gather: data movement only
    "embedding_bag": 1.0,  # the pooled sum: one add per gathered element
    "spmm": 2.0,  # scale by the edge weight and accumulate
    "gather_add": 1.0,
    "att_dot": 2.0,  # multiply-add per element of a per-node attention logit
    "leaky_relu": 1.0,
    "elu": 4.0,  # an exp on the negative side
    "kv_append": 0.0,  # data movement only
}


class VectorUnit(_Model):
    """A SIMD unit with ``lanes`` lanes; an element op costs ``cycles_per_element[fn]`` lane-cycles."""

    lanes: PositiveInt
    cycles_per_element: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)

    def cost(self, fn: str) -> float:
        """Lane-cycles per element of function ``fn`` (the arch's value, else the built-in table)."""
        table = self.cycles_per_element
        if fn in table:
            return table[fn]
        if fn in DEFAULT_VECTOR_COSTS:
            return DEFAULT_VECTOR_COSTS[fn]
        return table.get("default", DEFAULT_VECTOR_COSTS["default"])


class Sram(_Model):
    """On-chip scratchpad of one core: split ifmap/filter/ofmap buffers (as SCALE-Sim) or one unified buffer.

    With ``double_buffered`` each buffer holds two tiles (one computing, one filling), so a tile may use half.
    """

    ifmap: Bytes | None = None
    filter: Bytes | None = None
    ofmap: Bytes | None = None
    unified: Bytes | None = None
    double_buffered: bool = True

    @model_validator(mode="after")
    def _one_layout(self) -> Sram:
        split = (self.ifmap, self.filter, self.ofmap)
        if self.unified is None and any(s is None for s in split):
            raise ValueError("give either 'unified' or all of 'ifmap', 'filter' and 'ofmap'")
        if self.unified is not None and any(s is not None for s in split):
            raise ValueError("give either 'unified' or the split 'ifmap'/'filter'/'ofmap' sizes, not both")
        for name in ("ifmap", "filter", "ofmap", "unified"):
            if getattr(self, name) == 0:
                raise ValueError(f"{name} must be > 0 bytes")
        return self

    @property
    def total_bytes(self) -> int:
        """Capacity of all buffers together."""
        if self.unified is not None:
            return self.unified
        return self.ifmap + self.filter + self.ofmap  # type: ignore[operator]

    def tile_budgets(self, reserved: int = 0) -> tuple[int, int, int]:
        """Bytes one tile may use for (ifmap, filter, ofmap) when ``reserved`` bytes hold other data (resident
        activations, taken from every buffer in proportion); a unified buffer is shared in thirds."""
        div = 2 if self.double_buffered else 1
        free = max(self.total_bytes - reserved, 0) / self.total_bytes
        if self.unified is not None:
            third = int(self.unified * free) // 3
            return third // div, third // div, third // div
        return tuple(int(b * free) // div for b in (self.ifmap, self.filter, self.ofmap))  # type: ignore[return-value]


class OutputTile(_Model):
    """GPU-style work split: a GEMM's output is cut into ``m``×``n`` tiles (thread-block tiles), each computed
    whole (over all of K) by one core, and the tiles run on the cores in waves."""

    m: PositiveInt
    n: PositiveInt


class Core(_Model):
    """One core: systolic array(s), a vector unit and an SRAM scratchpad; ``tile`` sets GPU-style output tiles."""

    systolic: SystolicArray
    vector: VectorUnit
    sram: Sram
    tile: OutputTile | None = None


class Memory(_Model):
    """A memory level shared by all cores: ``capacity``, ``bandwidth`` and access ``latency``.

    For ``host`` the bandwidth and latency are those of the link that reaches it. ``access_bytes`` is the
    smallest transfer the level serves (a burst or cache line): a transfer occupies the level for whole granules.
    """

    capacity: Bytes
    bandwidth: BytesPerSecond
    latency: Seconds = 0.0
    access_bytes: PositiveInt = 64
    efficiency: Annotated[float, Field(gt=0, le=1)] = 1.0  # sustained fraction of the peak bandwidth
    efficiency_by_size: list[tuple[Bytes, Annotated[float, Field(gt=0, le=1)]]] = Field(default_factory=list)
    kind: str = ""

    @property
    def sustained_bandwidth(self) -> float:
        """Bytes/s a stream of transfers achieves: ``bandwidth`` × ``efficiency``."""
        return self.bandwidth * self.efficiency

    def efficiency_at(self, nbytes: int) -> float:
        """Sustained fraction of peak for an op moving ``nbytes`` at this level: the ``efficiency_by_size`` entry
        of the largest size ≤ ``nbytes`` (small kernels do not reach full bandwidth), else ``efficiency``."""
        best = None
        for size, eff in self.efficiency_by_size:
            if size <= nbytes and (best is None or size > best[0]):
                best = (size, eff)
        return best[1] if best is not None else self.efficiency


class Interconnect(_Model):
    """The links between chips: each chip sends ``bandwidth`` bytes/s per direction, each step of a collective
    costs ``latency``; ``topology`` ring (2(N−1) steps per all-reduce) or fully_connected (2 steps)."""

    bandwidth: BytesPerSecond
    latency: Seconds = 0.0
    topology: Literal["ring", "fully_connected"] = "ring"
    efficiency: Annotated[float, Field(gt=0, le=1)] = 1.0  # sustained fraction of the link bandwidth
    kind: str = ""

    def all_reduce_seconds(self, nbytes: int, chips: int) -> float:
        """Time of an all-reduce of ``nbytes`` over ``chips`` on an idle network (reduce-scatter + all-gather):
        2(N−1)/N · bytes / (bandwidth · efficiency), plus the latency of each step."""
        if chips <= 1 or nbytes <= 0:
            return 0.0
        steps = 2 * (chips - 1) if self.topology == "ring" else 2
        return 2 * (chips - 1) / chips * nbytes / (self.bandwidth * self.efficiency) + steps * self.latency


class Arch(_Model):
    """A chip: ``cores`` identical cores sharing HBM/DRAM and a link to host memory, at one clock; ``chips`` of
    them joined by an ``interconnect`` (used today for data-parallel training: a gradient all-reduce per
    parameter before its optimizer step)."""

    name: str = "custom"
    description: str = ""
    clock: Hertz
    dtype: Dtype = "int8"
    cores: PositiveInt = 1
    core: Core
    hbm: Memory
    host: Memory | None = None
    l2: Memory | None = None  # a cache shared by the cores between their SRAM and HBM (GPU L2)
    kernel_launch: Seconds = 0.0  # host time to launch each op (a GPU kernel), serial, ahead of execution
    chips: PositiveInt = 1
    interconnect: Interconnect | None = None

    @model_validator(mode="after")
    def _links_for_chips(self) -> Arch:
        if self.chips > 1 and self.interconnect is None:
            raise ValueError(f"chips={self.chips} needs an 'interconnect' (bandwidth, latency, topology)")
        return self

    # ---- derived figures ----------------------------------------------------------------------------------
    @property
    def clock_hz(self) -> float:
        """Clock in Hz."""
        return self.clock

    @property
    def peak_macs_per_cycle(self) -> int:
        """MACs per cycle of every systolic array on the chip."""
        return self.core.systolic.macs_per_cycle * self.cores

    def bytes_per_cycle(self, level: str) -> float:
        """Sustained bandwidth of memory level ``level`` ("hbm", "host", "l2") in bytes per cycle (inf if
        unbounded)."""
        mem = self.memory(level)
        return mem.sustained_bandwidth / self.clock if not math.isinf(mem.bandwidth) else math.inf

    def latency_cycles(self, level: str) -> int:
        """Access latency of ``level`` in whole cycles."""
        return math.ceil(self.memory(level).latency * self.clock)

    def memory(self, level: str) -> Memory:
        """The :class:`Memory` named ``level``; ``KeyError`` if the chip has none."""
        mem = {"hbm": self.hbm, "host": self.host, "l2": self.l2}.get(level)
        if mem is None:
            raise KeyError(level)
        return mem
