"""The report.json schema: one TypedDict per object of the report as :func:`accelsim.report.build_report` (and the
serving and pipeline combiners) writes it, and the few accessors the renderers read a report through.

A class's required keys are those every report has; keys only some reports have (training, serving, pipeline,
split embedding tables) are declared in a ``total=False`` subclass. :func:`problems` checks a report dict against
the schema (every key declared, every required key present, every value of its declared type), so a key added to
the report without its declaration here fails the schema test.

Renderers (console, HTML, plots, compare, sweep) never name a memory level: they loop over :func:`levels`, the
report's ``levels`` list, innermost first (a report written before that key existed gets the keys of its
``bytes`` in order, ``sram`` a scratchpad and every other one a memory).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, TypedDict, Union

from ..energy import executed_flops, executed_macs
from ..energy.model import NIC

# accumulator: an SRAM of the cores beside the scratchpad that holds the arrays' partial sums (tpu-v1's accumulators;
# core.systolic.accumulator_sram): on chip, no tensor's home and no task's bandwidth server
LevelRole = Literal["scratchpad", "accumulator", "cache", "memory"]
Bound = Literal["compute", "memory", "link", "none"]  # link: a collective, on the chips' interconnect


class Level(TypedDict):
    """One level of the memory hierarchy, innermost first: the cores' scratchpad, caches, then memories. The
    first ``memory`` level is the main memory (HBM or DRAM). ``capacity`` of a scratchpad is per core."""

    name: str
    role: LevelRole
    capacity: int  # bytes
    bandwidth: float | None  # bytes/s of the whole chip (a scratchpad: all cores' together; null: unbounded)


class Systolic(TypedDict):
    rows: int
    cols: int
    dataflow: str  # "os" | "ws" | "is"
    count: int  # arrays per core


class _ArchInfoRequired(TypedDict):
    name: str
    clock_hz: float
    cores: int
    chips: int
    dtype: str
    peak_macs_per_cycle: float  # the whole chip: its systolic arrays and the units of core.units with MACs
    peak_flops_per_s: float  # 2 · peak MACs per cycle · clock
    systolic: Systolic | None  # None: a core with no systolic array (its GEMMs on its vector lanes or core.units)
    memory_bytes_per_s: dict[str, float | None]  # bandwidth of each off-chip level, by name (null: unbounded)
    sram_bytes: int  # scratchpad bytes of all cores together (core.sram × cores; no cache level)


class ArchInfo(_ArchInfoRequired, total=False):
    on_chip_bytes: int  # every on-chip SRAM byte: the scratchpads (sram_bytes) and the capacities of the cache levels
    units: dict[str, dict[str, object]]  # core.units as resolved, each {kind, ...every field of its spec}
    vector: dict[str, int]  # a core's vector unit: {lanes}; reports before it lack it
    # every cache and memory level, innermost first: {role, capacity_bytes, bytes_per_s (null: unbounded),
    # latency_s, access_bytes}; reports before it lack it
    levels: dict[str, dict[str, object]]
    # with chips > 1: the interconnect as resolved, bandwidth and latency as bytes_per_s and latency_s, its other
    # fields (topology, efficiency, collective, energy_per_bit, nccl, node_chips, scale_out, ...) as written
    interconnect: dict[str, object]


class _WorkloadRequired(TypedDict):
    name: str


class WorkloadInfo(_WorkloadRequired, total=False):
    """What the report says about the workload. A graph run without a workload spec (``api.run`` of a built
    graph, SCALE-Sim inputs) has the same keys, from the graph's ``meta`` (``scenarios.single.graph_info``)."""

    model: str
    architecture: str  # a Hugging Face model's (``model: hf``), e.g. MixtralForCausalLM
    params: dict[str, object]  # the workload's parameters as given (after defaults)
    batch: int | None
    dtype: str | None
    unread: list[str]  # params this model does not read (a dense model's MoE routing), left out of summary lines


class Roofline(TypedDict):
    peak_flops_per_s: float
    bandwidth_bytes_per_s: float | None  # the main memory level's (null: unbounded)
    ridge_flops_per_byte: float  # peak / bandwidth (0 for an unbounded memory)


class _FootprintRequired(TypedDict):
    capacity: int
    weights: int
    kv_cache: int
    activations: int  # the largest op's (main memory), plus the training stash where it lives
    used: int  # the sum of the others
    fraction: float  # used / capacity


class Footprint(_FootprintRequired, total=False):
    """Bytes held at one memory level (``report["memory"][level]``); ``state`` only for models with recurrent
    layers (their fixed-size states, not in ``kv_cache``), the last two only in training."""

    state: int
    gradients: int
    optimizer_states: int


class _TableSplitRequired(TypedDict):
    rows: int


class TableSplit(_TableSplitRequired, total=False):
    """An embedding table split by rows between the memories: ``rows_in_<level>`` and ``<level>_hit_fraction`` of
    each memory but the last (none on an arch of one memory; an arch whose HBM is backed by host memory has
    these two)."""

    rows_in_hbm: int
    hbm_hit_fraction: float


class _PhaseRequired(TypedDict):
    start_cycle: int
    end_cycle: int
    compute_cycles: int  # grad_reduce: the link's busy cycles
    ops: int
    cycles: int  # end − start


class Phase(_PhaseRequired, total=False):
    """A training phase (forward, backward, optimizer; grad_reduce: the data-parallel gradient reduction) on the
    timeline."""

    link_bytes: int  # grad_reduce only: the bytes each chip sends


class DataParallel(TypedDict):
    """A data-parallel training step's replicas (``report.data_parallel``)."""

    replicas: int
    chips_per_replica: int
    batch_per_replica: int
    global_batch: int
    samples_per_s: float


class _SimulationRequired(TypedDict):
    tasks: int
    events: int


class Simulation(_SimulationRequired, total=False):
    passes: int  # serving and pipeline runs: the simulations actually run


class _OpRequired(TypedDict):
    name: str
    kind: str
    fn: str
    # "core0.systolic0", "core0.systolic0..core3.systolic0 (4)" (consecutive units of a kind), "core0.systolic0,
    # core0.systolic3 (2)" (others), "core*.systolic0 (108)", or "none"
    unit: str
    core: int | None
    macs: int
    flops: int
    start_cycle: int  # first start of its tasks
    end_cycle: int  # last end of its tasks
    compute_cycles: int  # the busiest unit's share: what the top-ops table ranks by
    stall_cycles: int  # summed over its units
    stalls_by_level: dict[str, int]
    bytes: dict[str, int]  # by level
    # tile groups the op was emitted as (each a load per level, a compute and a store: docs/architecture.md, Mapping 7),
    # not the SRAM tiling's nm·nn·nk (``mapping.tiling``); 1 for a collective, 0 for an op with no work
    tiles: int
    arithmetic_intensity: float | None  # work (a matmul: 2 x MACs computed; else flops) / bytes of the memory levels; null when it moved none
    achieved_flops_per_s: float | None  # null for a zero-length op
    bound: Bound
    # Unit-specific details (folds, tiling, ...). Keys renderers read: ``work_cycles`` (compute cycles summed over
    # the op's units, when it ran on several) and ``phase`` (training).
    mapping: dict[str, object]


class Op(_OpRequired, total=False):
    """One row of ``ops``; serving runs tag ops with their phase, pipeline runs with their stage."""

    phase: str  # serving: "prefill" | "decode"; diffusion: the pipeline part ("text_encoder", "unet", ...)
    stage: int  # pipeline: the simulated stage the row belongs to
    # when its inputs were ready (its producers' last end, 0 for one reading only graph inputs; at most end_cycle,
    # before start_cycle when it waited for its unit, after it when a parameter prefetch started it): end − ready
    # is ops.csv's ready_to_end_cycles. Reports before it lack it
    ready_cycle: int
    count: int  # composed runs (serving, pipeline): the executions of the op the row's totals account for
    energy_j: float | None  # dynamic energy of the row's MACs, vector FLOPs and bytes (null: arch without energy)
    model_share: float  # training: the share of macs that is the model's work (0: a recomputed copy; absent: 1;
    # above 1 for a causal context-parallel attention: the masked chunk pairs the split leaves out still count;
    # 1/T for an op every one of T tensor-parallel chips runs whole, e.g. GPT-2's replicated LM head)
    fixed_cycles: int  # a GPU GEMM (core.tile): of compute_cycles, its busiest core's exposed thread-block fixed cost
    # (prologue and epilogue no other resident block's main loop overlaps: cost.gpu_tiles.exposed_fixed)
    # bytes / s at each memory level it touched over its span (empty for a zero-length op); reports before it lack it
    achieved_bytes_per_s: dict[str, float]
    model_scale: float  # a causal context-parallel attention (ring, all_gather): the model's count ÷ its macs and flops
    # (the masked chunk pairs the split leaves out; absent: 1), which the report's macs and flops apply (model_counts)


class Energy(TypedDict):
    """Joules of the run (docs/energy.md): dynamic (MACs, vector FLOPs, bytes per level) plus activity (the power
    a busy chip draws beyond those actions, over ``active_fraction`` of the run: ``by_unit["activity"]``) plus
    static (the chip's static power over the run, shared over units and levels by area). ``by_unit`` +
    ``by_level`` + ``other_j`` = ``total_j``; ``by_op_kind`` splits the dynamic energy by op kind."""

    total_j: float
    dynamic_j: float
    activity_j: float  # reports since the activity term; older lack it
    static_j: float
    mac_j: float
    off_package_j: float  # of total_j, the devices' outside the package: memory (Level.off_package), a NIC; older reports lack it
    by_level: dict[str, float]
    by_unit: dict[str, float]
    other_j: float
    by_op_kind: dict[str, float]
    # of by_level and by_unit, each part's share of the static energy (by area, plus a level's own static_power): a
    # part whose entry equals it spent no dynamic energy (console "(static)"); reports before probe p142 lack them
    static_by_level: dict[str, float]
    static_by_unit: dict[str, float]
    # the chip's node (nm) and supply voltage (V, energy.voltage, else 0.8) its on-chip figures are carried to
    # (docs/energy.md, "Supply voltage"); reports before probe p159 lack them
    node_nm: float
    voltage_v: float


class _PowerRequired(TypedDict):
    average_w: float
    average_w_per_chip: float
    peak_w: float
    peak_w_per_chip: float
    static_w: float
    tdp_w: float | None
    chips: int


class Power(_PowerRequired, total=False):
    """Average power, and peak over a sliding window of 1 % of the run; ``tdp_clock_factor`` when the package power is over TDP (a throttled run: the factor applied); reports since off-package memories were told apart give ``off_package_w`` and ``package_w_per_chip``."""

    tdp_clock_factor: float
    off_package_w: float  # W of devices outside the package (Level.off_package: DIMMs; a multi-node run's NIC), all chips
    package_w_per_chip: float  # average_w_per_chip less them: the chip's own power, what its idle_power and tdp rate


class _EfficiencyRequired(TypedDict):
    tops_per_w: float | None
    j_per_token: float | None
    j_per_step: float | None  # a training step on every chip of the arch
    j_per_inference: float | None


class Efficiency(_EfficiencyRequired, total=False):
    j_per_step_per_chip: float  # a training step on one chip (training reports since it)
    useful_tops_per_w: float | None  # the model's flops per J / 1e12 (reports since probe p66; tops_per_w: executed)
    tops_definition: str  # what tops_per_w and useful_tops_per_w count (energy.model.TOPS_DEFINITION)


class Area(TypedDict):
    """mm² of the chip by unit (all cores) and level (a memory: its PHY and controller), and the rest."""

    total_mm2: float
    units: dict[str, float]
    levels: dict[str, float]
    other_mm2: float


class _ServingRequired(TypedDict):
    batch: int
    prefill_cycles: int
    decode_steps: int
    decode_steps_simulated: list[int]
    decode_cycles: int
    step_cycles: list[int]
    ttft_s: float | None  # the prefill's seconds; None in a run without a prefill (phase: decode)
    tpot_s: float | None
    tokens_per_s: float | None  # the replica's: batch · expert_parallel · decode steps / decode seconds


class Serving(_ServingRequired, total=False):
    """LLM serving metrics (a workload with ``decode_steps``); the footprint keys come from the serving driver."""

    kv_cache_bytes: int  # the attention layers' KV cache after the last step (not the recurrent states)
    state_bytes: int  # a model with recurrent layers (Mamba, Gated DeltaNet, short convs): their states
    weight_bytes: int
    memory: dict[str, Footprint]
    memory_pass: str  # the pass ``memory`` describes: "decode step N" (the last simulated step), or "prefill"
    # a run whose passes place tensors in other memories than the pass before left them (scenarios.serving.
    # placement_moves): the moves' seconds (in step_cycles) and the bytes they move at each level (in bytes)
    move_s: float
    moved_bytes: dict[str, int]
    # the images the prefill encodes (a vision-language model's images; absent without them): requests, images,
    # encoded_images, encoder_s (the encoder's and projector's span in the prefill), encoder_busy_fraction (of seconds)
    images: dict[str, int | float]
    layer_samples: list[int] | None  # [1, 2] ([k + 1, k + 2] after k distinct layers; [k + p, k + 2p] for layers
    # repeating a unit of p): each pass simulated with that many layers (options.layer_samples)


STEP_SCOPE = "the step"
"""report.json's ``phases_scope`` where ``phases`` are the training step's own, on its timeline."""


class StageTime(TypedDict):
    stage: int
    micro_batch_s: float
    optimizer_s: float
    activations_in_flight: int | float  # a fraction of micro-batches with interleaving (chunks / v)
    hbm_used_bytes: int
    hbm_fraction: float


class _PipelineRequired(TypedDict):
    stages: int
    micro_batches: int
    interleave: int
    bottleneck_stage: int
    iteration_s: float
    bubble_s: float
    bubble_fraction: float
    optimizer_s: float  # the optimizer tail: grad_reduce_s + optimizer_step_s
    grad_reduce_s: float  # of optimizer_s, the data-parallel gradient reductions' share (Timing.reduce_in_tail)
    optimizer_step_s: float  # of optimizer_s, the rest: the steps after the last reduction (and ZeRO's all-gather)
    p2p_s: float  # the p2p_transfers' time: the sends the fill and drain wait for (the critical path's)
    p2p_transfers: int  # those sends, 2(P·v − 1) in training (P·v − 1 in inference): one micro-batch's path
    embedding_sync_s: float
    stage_times: list[StageTime]
    layer_samples: list[int] | None


class Pipeline(_PipelineRequired, total=False):
    """A pipeline (or gradient-accumulation) iteration's schedule (scenarios/pipeline.py); the step's timeline only
    in training."""

    p2p_sends_total: int  # every stage-to-stage send of the step, m × p2p_transfers (reports before it lack it)
    p2p_bytes_total: int  # their bytes (one tensor-parallel rank's pipeline)
    embedding_sync_bytes: int  # the embedding all-reduce's, both ranks' (bytes.link = rows' + these + p2p_bytes_total)

    bubble_ratio: float  # bubble_s / (m × the slowest stage's micro-batch time): SC21 Eq. 1's (P − 1)/m (older: none)

    forward_end_s: float  # when the iteration's last forward ends (scenarios.pipeline.step_ends)
    backward_end_s: float  # when its gradients are ready, before their reduction and the optimizer step


class DiffusionPart(TypedDict):
    part: str
    count: int  # executions per run (the denoiser: the sampling steps)
    params: int
    cycles: int  # one execution
    seconds: float  # one execution
    total_seconds: float  # count × seconds


class Diffusion(TypedDict):
    """A model run as several graphs (a diffusion pipeline: scenarios/diffusion.py)."""

    batch: int
    parts: list[DiffusionPart]
    seconds_per_image: float
    images_per_s: float | None


class _ReportRequired(TypedDict):
    accelsim_version: str
    name: str
    workload: WorkloadInfo
    arch: ArchInfo
    total_cycles: int
    seconds: float
    launch_overhead_s: float  # the time kernel launches add to the run (the device waiting for them)
    clock_hz: float
    macs: int
    flops: int
    params: int  # the whole model's
    levels: list[Level]  # the memory hierarchy, innermost first
    utilization: dict[str, float]  # busy fraction of every unit and memory server
    mac_utilization: float
    stall_cycles: int
    stalls_by_level: dict[str, int]
    bytes: dict[str, int]  # bytes moved at each level
    roofline: Roofline
    placement: dict[str, str | int]  # tensor → level ("hbm+host": a table split by rows), or "tensors_in_<level>" → count above 64 tensors
    memory: dict[str, Footprint]
    notes: list[str]
    simulation: Simulation
    ops: list[Op]


class TableShard(TypedDict):
    """One chip of a sharded DLRM: its tables (indices into the model's; row-wise, those it holds a block of), their
    rows and bytes (row-wise: its blocks'), and its look-ups (rows gathered a pass: tables × batch × pooling;
    row-wise, the look-ups landing in its blocks)."""

    chip: int
    tables: list[int]
    rows: int
    table_bytes: int
    lookups: int


class _EmbeddingParallelRequired(TypedDict):
    chips: int
    sharding: str  # "table" | "row"
    simulated_chip: int
    shards: list[TableShard]


class EmbeddingParallel(_EmbeddingParallelRequired, total=False):
    """A DLRM whose tables are sharded over ``chips`` (``builders.recsys``), table-wise (whole tables; the chip
    simulated has the most look-ups; its all-to-all's message, nccl-tests' size: its send buffer, batch × its tables
    × dim × bytes) or row-wise (a block of every table on each chip; chip 0 simulated, the largest blocks; its
    reduce-scatter's message, batch × tables × dim × bytes), and every chip's shard."""

    all_to_all_bytes: int  # table-wise
    reduce_scatter_bytes: int  # row-wise


class _MoeRequired(TypedDict):
    """Mixture-of-experts facts of an ``hf`` MoE model (``builders.hf``): experts, top-k, the expert-parallel
    degree, the tensor-parallel chips the experts are spread over whole (1: each expert's width split over them),
    the tensor-parallel chips that split the tokens for the dispatch (``token_shards``: tensor_parallel with
    expert_parallel > 1, each token dispatched once per tensor-parallel group; 1: every chip routes every token),
    routing, the group's tokens, assignments per expert in every MoE layer (after capacity), dropped assignments,
    capacity (0: none), experts hit, total and per-token active parameters."""

    experts: int
    top_k: int
    moe_layers: int
    expert_parallel: int
    experts_spread: int
    routing: str
    tokens: int
    tokens_per_expert: list[int]
    dropped_tokens: int
    capacity: int
    experts_hit: int
    total_params: int
    active_params: int


class Moe(_MoeRequired, total=False):
    """:class:`_MoeRequired`, and ``token_shards`` and ``active_params_non_embedding`` (``active_params`` less the
    untied input-embedding table, the count model cards that leave out the embedding give; reports since they
    were added; older ones lack them)."""

    token_shards: int
    active_params_non_embedding: int
    # a serving run (phase prefill, decode_steps > 0, or phase decode): the pass the routing figures describe
    # ("prefill" or "decode step N", as ``memory_pass``), and with a prefill and decode steps the decode steps'
    # routing (``tokens``, ``tokens_per_expert``, ``dropped_tokens``, ``capacity``, ``experts_hit``: one token a
    # sequence, the same at every step)
    routing_pass: str
    decode_step: dict[str, int | list[int]]


class ReportDict(_ReportRequired, total=False):
    """The whole report.json object (reports saved before ``levels`` existed lack it: see :func:`levels`)."""

    kernel_dispatch_s: float  # the device-side dispatch part of launch_overhead_s (reports since it; older lack it)
    # bytes[level] / (its bandwidth x seconds) per level of bounded bandwidth: the share of its bandwidth used, where
    # utilization[level] is the share of the run it was transferring (single-pass run reports since it; composed
    # serving and pipeline reports lack it)
    bandwidth_share: dict[str, float]
    launch_bound_fraction: float  # launch_overhead_s / seconds (every report since the launch model; older lack it)
    computed_macs: int  # macs less a causal fused attention's skipped blocks, plus the zeros of a pruned op its
    # array multiplies (an array that does not skip zeros: the dense K): what the kernels computed
    # training runs only: the model's FLOPs of the step (forward + backward, no recomputation: model_work) and
    # mfu = model_flops / (peak FLOP/s at the workload's dtype × the chips the report covers × seconds); beside it
    # mac_utilization counts what the arrays ran, recomputed forward ops included (hardware FLOPs utilization)
    model_flops: int
    mfu: float
    computed_flops: int  # flops likewise (computed_work); computed_flops / seconds never exceeds the peak
    active_fraction: float  # share of seconds in which the chip does some op's work (not launches, dispatch gaps;
    # a pipeline: the mean over its P chips, each idle through its bubbles)
    execution: str  # "eager" | "cuda_graph" | "none"; serving: per phase, "prefill eager, decode cuda_graph"
    kernel_order: str  # "stream" | "dataflow" (options.kernel_order on a GPU) | "none" (no kernel dispatch)
    options: dict[str, object]  # the run's options that differ from their defaults (accelsim.options.recorded,
    # {}: none; older reports lack it), and a serving or pipeline run's layer_samples as it took it
    params_per_chip: int  # the parameters one chip holds, when tensor, pipeline or expert parallelism splits the model
    tables: dict[str, TableSplit]
    phases: dict[str, Phase]
    phases_scope: str  # what ``phases`` covers (training): STEP_SCOPE (a single pass, or a pipeline of one stage
    # and one micro-batch: the step's timeline), else "one micro-batch of stage S of P and the optimizer tail once,
    # not on the step's timeline ..." (pipeline.forward_end_s / backward_end_s are the step's); older reports lack it
    data_parallel: DataParallel  # a training step on several data-parallel replicas (one pass: no pipeline)
    serving: Serving
    memory_pass: str  # serving runs: the pass the top-level ``memory`` describes ("prefill", or "decode step 1")
    pipeline: Pipeline
    diffusion: Diffusion
    moe: Moe  # mixture-of-experts models (hf)
    embedding_parallel: EmbeddingParallel  # a DLRM with its tables sharded over chips (dlrm_mlperf)
    energy: Energy | None  # null when the arch gives no energy constants (with a note)
    power: Power | None
    efficiency: Efficiency | None
    edp: float | None  # energy-delay product, J·s
    area: Area | None


# --- checking -----------------------------------------------------------------------------------------------------

def _is_typeddict(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def _check(value: object, tp: object, where: str, out: list[str]) -> None:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _is_typeddict(tp):
        if not isinstance(value, dict):
            out.append(f"{where}: expected an object, got {type(value).__name__}")
            return
        hints = typing.get_type_hints(tp)
        out.extend(f"{where}.{k}: missing" for k in sorted(tp.__required_keys__ - set(value)))
        for key, item in value.items():
            if key not in hints:
                out.append(f"{where}.{key}: not declared in {tp.__name__}")
            else:
                _check(item, hints[key], f"{where}.{key}", out)
    elif origin in (Union, types.UnionType):
        trial: list[list[str]] = []
        for arg in args:
            trial.append([])
            _check(value, arg, where, trial[-1])
            if not trial[-1]:
                return
        out.extend(min(trial, key=len))
    elif origin is Literal:
        if value not in args:
            out.append(f"{where}: {value!r} is not one of {args}")
    elif origin is dict:
        if not isinstance(value, dict):
            out.append(f"{where}: expected an object, got {type(value).__name__}")
            return
        for key, item in value.items():
            _check(item, args[1], f"{where}.{key}", out)
    elif origin is list:
        if not isinstance(value, list):
            out.append(f"{where}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _check(item, args[0], f"{where}[{i}]", out)
    elif tp is type(None):
        if value is not None:
            out.append(f"{where}: expected null, got {type(value).__name__}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            out.append(f"{where}: expected a number, got {type(value).__name__}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            out.append(f"{where}: expected an integer, got {type(value).__name__}")
    elif tp in (str, bool) and not isinstance(value, tp):
        out.append(f"{where}: expected {tp.__name__}, got {type(value).__name__}")


def problems(report: Mapping[str, object], schema: type = ReportDict) -> list[str]:
    """Every way ``report`` departs from ``schema`` (default: the whole report), one line each: a key present but
    not declared, a required key missing, a value of another type. Empty when it conforms."""
    out: list[str] = []
    _check(dict(report), schema, "report", out)
    return out


# Keys every report.json accelsim writes has, with their JSON type (../shared/DESIGN.md, "report.json"): a file
# without one of them was not written by accelsim (or was edited), and ``plot`` and ``compare`` refuse it rather
# than draw empty plots and columns of dashes. A serving report (``kind: serving``) has its figures in ``serving``.
DESIGN_KEYS: dict[str, type] = {
    "total_cycles": int, "seconds": float, "clock_hz": float, "macs": int, "flops": int, "params": int,
    "utilization": dict, "mac_utilization": float, "stall_cycles": int, "stalls_by_level": dict, "bytes": dict,
    "ops": list,
}
SERVING_KEYS: dict[str, type] = {"serving": dict}
_TYPE_WORDS = {int: "an integer", float: "a number", dict: "an object", list: "a list"}


def _type_problem(value: object, tp: type) -> str | None:
    """"not a number" (or "not an integer", "not an object", "not a list") when ``value`` is not of JSON type
    ``tp``, else None."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp in (int, float):
        if not number:
            return "not a number"
        return "not an integer" if tp is int and not isinstance(value, int) else None
    return None if isinstance(value, tp) else f"not {_TYPE_WORDS[tp]}"


def not_a_report(report: Mapping[str, object]) -> str | None:
    """Why ``report`` (a parsed report.json) is not one accelsim wrote, in a few words ("total_cycles: not a
    number", then "missing total_cycles", then "ops[3]: not an object"), or None when it has every key of
    :data:`DESIGN_KEYS` (:data:`SERVING_KEYS` for a serving report) with a value of its type."""
    keys = SERVING_KEYS if report.get("kind") == "serving" else DESIGN_KEYS
    for key, tp in keys.items():
        problem = _type_problem(report[key], tp) if key in report else None
        if problem is not None:
            return f"{key}: {problem}"
    missing = [k for k in keys if k not in report]
    if missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        return f"missing {shown}"
    ops = report.get("ops") if keys is DESIGN_KEYS else None
    bad = next((i for i, op in enumerate(ops or []) if not isinstance(op, dict)), None)
    return None if bad is None else f"ops[{bad}]: not an object"


# --- reading a report by the schema -------------------------------------------------------------------------------

SCRATCHPAD_FALLBACK = "sram"  # only for reports without "levels": the one level name older reports imply


def levels(report: Mapping[str, object]) -> list[Level]:
    """The report's memory levels, innermost first: its ``levels`` list, or for a report written before that key
    existed, the keys of its ``bytes`` in order (``sram`` a scratchpad, the others memories; capacities and
    bandwidths from ``memory``, ``arch.memory_bytes_per_s`` and ``arch.sram_bytes`` where known, else 0)."""
    given = report.get("levels")
    if isinstance(given, list) and given:
        return [Level(name=str(lv["name"]), role=lv.get("role", "memory"), capacity=lv.get("capacity", 0),
                      bandwidth=lv.get("bandwidth", 0.0))
                for lv in given if isinstance(lv, dict) and "name" in lv]
    arch = _dict(report.get("arch"))
    rates, held = _dict(arch.get("memory_bytes_per_s")), _dict(report.get("memory"))
    cores = arch.get("cores") if isinstance(arch.get("cores"), int) and arch.get("cores") > 0 else 1
    out = []
    for name in _dict(report.get("bytes")):
        name = str(name)
        if name == SCRATCHPAD_FALLBACK:
            sram = arch.get("sram_bytes")
            out.append(Level(name=name, role="scratchpad", capacity=sram // cores if isinstance(sram, int) else 0,
                             bandwidth=None))
        else:
            cap = _dict(held.get(name)).get("capacity")
            bw = rates.get(name)
            out.append(Level(name=name, role="memory", capacity=cap if isinstance(cap, int) else 0,
                             bandwidth=float(bw) if isinstance(bw, (int, float)) else 0.0))
    return out


def level_names(report: Mapping[str, object], roles: Iterable[str] | None = None) -> list[str]:
    """Names of the report's levels (of the given roles), innermost first."""
    keep = None if roles is None else set(roles)
    return [lv["name"] for lv in levels(report) if keep is None or lv["role"] in keep]


def transfer_units(report: Mapping[str, object]) -> set[str]:
    """The report's units that move bytes rather than compute: its levels (and ``bytes`` keys) and a multi-node
    chip's NIC (which moves the link's bytes)."""
    return set(level_names(report)) | {str(k) for k in _dict(report.get("bytes"))} | {NIC}


def interconnect_units(report: Mapping[str, object]) -> set[str]:
    """The transfer units (:func:`transfer_units`) that are no level of the chip: the chips' ``link`` (NVLink and
    NVSwitch, ICI) and a multi-node chip's NIC. Off chip, yet they hold no tensor (not a memory)."""
    return transfer_units(report) - set(level_names(report))


def memory_levels(report: Mapping[str, object]) -> list[str]:
    """The levels that hold tensors (role ``memory``), innermost first: their bytes are the off-chip bytes."""
    return level_names(report, ("memory",))


def main_memory(report: Mapping[str, object]) -> str | None:
    """The first memory level (HBM, DRAM): the roofline's memory; None when the report has none."""
    names = memory_levels(report)
    return names[0] if names else None


def ordered(names: Iterable[str], report: Mapping[str, object]) -> list[str]:
    """``names`` (level names, say the keys of a bytes object) in hierarchy order, unknown names last in the order
    given."""
    names = [str(n) for n in names]
    rank = {n: i for i, n in enumerate(level_names(report))}
    return sorted(dict.fromkeys(names), key=lambda n: (rank.get(n, len(rank)), names.index(n)))


def op_busy_cycles(op: Mapping[str, object]) -> int:
    """The cycles an op keeps its unit busy: its ``compute_cycles`` (for an op spread over several units, the
    busiest unit's share, which is the op's time on the chip when nothing stalls; ``mapping.work_cycles`` sums
    the units and would rank an op on 108 SMs 108× higher than its time). Waiting (for data, for a dependency)
    is not counted, so an optimizer step that mostly waits ranks below the convolutions that keep arrays busy."""
    value = op.get("compute_cycles")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


PART_KEYS = ("phase", "stage", "count")  # what a composed report's rows (serving, pipeline) say of their part


def part_keys(ops: Iterable[Mapping[str, object]]) -> list[str]:
    """Those of :data:`PART_KEYS` some row of ``ops`` has: none for a plain run's rows."""
    ops = list(ops)
    return [k for k in PART_KEYS if any(op.get(k) is not None for op in ops)]


def op_runs(op: Mapping[str, object]) -> float:
    """The executions an op row stands for: its ``count`` in a composed report (serving, pipeline), else 1."""
    count = _real(op.get("count"))
    return 1.0 if count is None else count


def _real(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def op_work_cycles(op: Mapping[str, object]) -> float:
    """An op row's compute cycles counted as its ``stall_cycles`` are: summed over its units (``mapping.work_cycles``
    when it ran on several, else ``compute_cycles``) and over the ``count`` executions a composed row stands for
    (``compute_cycles`` and ``work_cycles`` describe one execution, ``stall_cycles`` all of them)."""
    mapping = op.get("mapping")
    work = _real(mapping.get("work_cycles")) if isinstance(mapping, Mapping) else None
    if work is None:
        work = _real(op.get("compute_cycles")) or 0.0
    count = _real(op.get("count"))
    return work * (1.0 if count is None else count)


def op_stall_per_unit(op: Mapping[str, object]) -> float:
    """The factor 1 / (units × count) that turns an op row's stall cycles (``stall_cycles``, ``stalls_by_level``:
    summed over its ``mapping.units`` units and its ``count`` executions) into the mean stall of one unit in one
    execution, counted as ``compute_cycles`` and the start-to-end span are."""
    mapping = op.get("mapping")
    units = _real(mapping.get("units")) if isinstance(mapping, Mapping) else None
    count = _real(op.get("count"))
    scale = (units if units and units > 0 else 1.0) * (count if count and count > 0 else 1.0)
    return 1.0 / scale


def base_rate_macs(ops: Iterable[Mapping[str, object]]) -> float:
    """The op rows' MACs as their units computed them, counted at the base rate (the rate ``peak_macs_per_cycle``
    gives): each row's MACs its kernel executes (``energy.executed_macs``: ``macs`` times ``mapping.mac_fraction``,
    a causal FlashAttention kernel skipping the blocks above the diagonal, about half; a pruned op's zeros that its
    array still multiplies added) and divided by the multiplier of the
    dtype it ran at (``mapping.rate.multiplier``: 2 for int8 on an H100's tensor cores, 0.25 for int16 on a TPU
    v1); 1 for either where the row gives none. ``mac_utilization`` = this / (peak MACs per cycle × cycles) is the
    share of the arrays' peak at each op's own dtype, so it never exceeds 1."""
    total = 0.0
    for op in ops:
        mapping = op.get("mapping")
        mapping = mapping if isinstance(mapping, Mapping) else {}
        rate = mapping.get("rate")
        multiplier = _real(rate.get("multiplier")) if isinstance(rate, Mapping) else None
        macs = executed_macs(op)
        total += macs / multiplier if multiplier and multiplier > 0 else macs
    return total


def stall_share(ops: Iterable[Mapping[str, object]]) -> float | None:
    """stall / (stall + compute) cycles summed over ``ops``, both counted over every unit and execution
    (:func:`op_work_cycles`): the part of the compute units' working time spent waiting for data. None when the
    ops have no cycles."""
    stall = work = 0.0
    for op in ops:
        stall += _real(op.get("stall_cycles")) or 0.0
        work += op_work_cycles(op)
    return stall / (stall + work) if stall + work > 0 else None


def op_part(op: Mapping[str, object]) -> str:
    """The part of a composed run an op row belongs to, as its label's suffix: " (decode)", " (stage 2)" (empty
    for a plain run's)."""
    if op.get("phase"):
        return f" ({op['phase']})"
    return f" (stage {op['stage']})" if op.get("stage") is not None else ""


def run_covers(report: Mapping[str, object]) -> str:
    """What a composed run's time covers, in words ("prefill + 4 decode steps", "pipeline of 2 stages × 4
    micro-batches", "transformer × 50 + vae_decoder"); "" for a run of one pass."""
    serving, pipe, diffusion = (report.get(k) or {} for k in ("serving", "pipeline", "diffusion"))
    if isinstance(serving, Mapping) and serving:
        steps = int(serving.get("decode_steps") or 0)
        return f"prefill + {steps} decode step{'s' if steps != 1 else ''}"
    if isinstance(pipe, Mapping) and pipe:
        return f"pipeline of {pipe.get('stages')} stages × {pipe.get('micro_batches')} micro-batches"
    if isinstance(diffusion, Mapping) and diffusion:
        return " + ".join(f"{p['part']} × {p['count']}" if p.get("count", 1) != 1 else str(p["part"])
                          for p in diffusion.get("parts") or [])
    return ""


def chips_covered(report: Mapping[str, object]) -> int:
    """How many chips a report's work (``macs``, ``flops``, ``computed_flops``, ``bytes``) and energy cover:
    ``power.chips``, else a pipeline report's P stages' chips (``pipeline.stages``), else 1 (a single pass is one
    chip's share of its parallel group). Rates shown against one chip's roof divide by it (probe p73 #2)."""
    power, pipe = report.get("power"), report.get("pipeline")
    for value in ((power or {}).get("chips") if isinstance(power, Mapping) else None,
                  (pipe or {}).get("stages") if isinstance(pipe, Mapping) else None):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 1


def op_span(op: Mapping[str, object]) -> int:
    """end − start cycles of an op (0 when either is missing)."""
    start, end = op.get("start_cycle"), op.get("end_cycle")
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)):
        return 0
    return max(0, int(end - start))


def top_ops(ops: Sequence[Mapping[str, object]], n: int, over_runs: bool = False) -> list[int]:
    """Indices of the ``n`` busiest ops (:func:`op_busy_cycles`; with ``over_runs``, times the executions a
    composed row stands for, :func:`op_runs`), busiest first; ties keep execution order."""
    def busy(i: int) -> float:
        return op_busy_cycles(ops[i]) * (op_runs(ops[i]) if over_runs else 1.0)
    return sorted(range(len(ops)), key=lambda i: -busy(i))[:n]


_CORE_UNIT = re.compile(r"^core(\d+|\*)\.")  # "core<i>.<unit>", or "core*.<unit>" for a GPU's lock-step SMs


def core_units(report: Mapping[str, object]) -> dict[str, float]:
    """Busy fractions of the cores' compute units (systolic arrays, vector units, ...): the ``utilization`` entries
    named ``core<i>.<unit>`` (or ``core*.<unit>``, one unit for all of a GPU's SMs), leaving out the memory servers, the host that launches ops and the chip link."""
    return {str(u): float(v) for u, v in _dict(report.get("utilization")).items()
            if _CORE_UNIT.match(str(u)) and isinstance(v, (int, float)) and not isinstance(v, bool)}


_INSTANCE = re.compile(r"^(.*?\D)(\d+)$")  # "systolic3": a unit's instance name, its stem and index


def group_units(util: Mapping[str, object]) -> dict[str, list[object]]:
    """:func:`unit_groups`' values only: label → the group's values."""
    return {label: [v for _, v in members] for label, members in unit_groups(util).items()}


def unit_groups(util: Mapping[str, object]) -> dict[str, list[tuple[str, object]]]:
    """``util`` (unit → value) with identical units merged (label → its (unit, value) pairs), for a summary row
    per kind of unit (report.json keeps every unit): the same unit of every core (``core*.vector``) and, where a core has several instances of one
    unit (``systolic0`` .. ``systolic3``: a count of 4, indices 0 .. n−1 in every core), those too
    (``core*.systolic*``), so a multi-array TPU lists as few rows as a GPU, whose lock-step SMs are one
    ``core*.`` unit already. A group of one keeps its unit's name (``core0.systolic0`` on a one-core chip); units
    outside the cores (levels, ``launch``, ``link``) stay as they are; groups in first-seen order."""
    local: dict[str, dict[str, list[int]]] = {}  # core → stem → indices of its numbered units
    for unit in util:
        m = _CORE_UNIT.match(str(unit))
        inst = _INSTANCE.match(str(unit)[m.end():]) if m else None
        if m and inst:
            local.setdefault(m.group(1), {}).setdefault(inst.group(1), []).append(int(inst.group(2)))
    stems = [{stem for stem, idx in by.items() if len(idx) > 1 and sorted(idx) == list(range(len(idx)))}
             for by in local.values()]
    counted = set.intersection(*stems) if stems else set()  # stems numbered 0 .. n-1 on every core
    groups: dict[str, list[tuple[str, object]]] = {}
    for unit, value in util.items():
        m = _CORE_UNIT.match(str(unit))
        key = str(unit)
        if m:
            own = str(unit)[m.end():]
            inst = _INSTANCE.match(own)
            key = "core*." + (f"{inst.group(1)}*" if inst and inst.group(1) in counted else own)
        groups.setdefault(key, []).append((str(unit), value))
    return {(key if len(members) > 1 else members[0][0]): members for key, members in groups.items()}


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


__all__ = ["ArchInfo", "Bound", "DataParallel", "Footprint", "Level", "LevelRole", "Op", "Phase", "Pipeline", "ReportDict", "Roofline",
           "Serving", "Simulation", "StageTime", "Systolic", "TableSplit", "WorkloadInfo", "chips_covered", "core_units", "level_names",
           "levels", "group_units", "unit_groups", "main_memory", "memory_levels", "not_a_report", "op_busy_cycles", "op_runs", "op_span", "part_keys", "ordered", "problems", "top_ops"]


def model_counts(ops: Iterable[Mapping[str, object]]) -> tuple[int, int]:
    """A report's ``macs`` and ``flops`` from its op rows, DESIGN.md's counting convention: each row's, times its
    ``model_scale`` where it gives one (a causal context-parallel attention's, ring and all_gather:
    ``TransformerBuilder._cp_model_scale``), so an attention counts every query × key of this chip's 1/C of the
    unsplit op at any ``context_parallel`` and any ``context_parallel_comm``, as at 1 and as ``a2a`` does. A fused
    attention's MACs and FLOPs (2 per MAC and its softmax's per score) both grow with its (query, key) pairs, so one
    scale fits both. :func:`computed_work` counts the rows' own (what ran)."""
    macs = flops = 0.0
    for op in ops:
        scale = _real(op.get("model_scale"))
        scale = 1.0 if scale is None else scale
        macs += (_real(op.get("macs")) or 0.0) * scale
        flops += (_real(op.get("flops")) or 0.0) * scale
    return round(macs), round(flops)


def model_work(ops: Iterable[Mapping[str, object]]) -> float:
    """The model's MACs of the op rows of a training step: each row's ``macs`` times its ``model_share`` (1 where
    the row gives none): 0 for a recomputed copy of a forward op (``{op}.recompute``, activation recomputation or
    sequence parallelism's re-gather), and for a fused attention backward its MACs less the score matrix it
    recomputes (FlashAttention-2's backward runs five matmuls of which the model's backward is four); 1/T for an
    op every one of T tensor-parallel chips runs whole (a replicated head: the model runs it once). 2 × this
    is the step's model FLOPs (PaLM's and Megatron-LM's MFU numerator: forward + backward, no recomputation)."""
    total = 0.0
    for op in ops:
        share = _real(op.get("model_share"))
        total += (_real(op.get("macs")) or 0.0) * (1.0 if share is None else share)
    return total


def computed_work(macs: int, flops: int, ops: Iterable[Mapping[str, object]]) -> dict[str, int]:
    """``computed_macs`` and ``computed_flops`` of a run whose model counts are ``macs`` and ``flops``: less each op
    row's MACs and FLOPs its kernel skips (``1 − mapping.mac_fraction`` of them: a causal FlashAttention skips the
    K/V blocks above the diagonal, about half; all of an op on no unit, a view or a folded batch norm), and plus
    the zeros a pruned op's array multiplies (``executed_k`` above the kept K: an array that does not skip zeros
    runs the dense K), the work the energy model charges (``energy.executed_macs``, ``executed_flops``)."""
    skipped_macs = skipped_flops = 0.0
    for op in ops:
        skipped_macs += (_real(op.get("macs")) or 0.0) - executed_macs(op)
        skipped_flops += (_real(op.get("flops")) or 0.0) - executed_flops(op)
    return {"computed_macs": macs - round(skipped_macs), "computed_flops": flops - round(skipped_flops)}
