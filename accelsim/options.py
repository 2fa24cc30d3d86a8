"""Run options: how the mapper lowers a workload and what the run writes (an experiment's ``options:``)."""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from .units import parse_size, parse_time

TASK_BYTES = 1024  # memory one task costs through lowering, simulation and the report (measured: ~650 B on a
# ResNet-50 training step of 143,177 tasks with 1.7 dependencies each; rounded up for tasks with more)
TRACE_TASK_BYTES = 512  # memory a composed run keeps of each traced task of its kept passes (KEPT_PASS_BYTES
# below): the task (its tasks.Task) and its start, end and stall in the pass's Trace, for trace.json. trace.json
# itself is streamed (report.chrome_trace.trace_chunks) and adds nothing a task, so a traced pass counts TASK_BYTES
# a task as an untraced one: `accelsim run -w llama3_8b -a multicore-4 --set arch.cores=256 --set
# workload.seq_len=2048 --no-plots [--trace]` (761,446 tasks) peaked at 591 MB either way (measured with
# /usr/bin/time -v, maximum resident set size, on a 2-core shared Linux x86-64 machine, 23 GiB; 1,384 MB traced
# while the document was built whole). What a pass's report keeps, by tracemalloc after the run with
# arch.cores=32 (364,198 tasks): 109.4 MB, its task graph, trace and report rows, ~300 B a task; rounded up
OP_BYTES = 8192  # memory one op of a pass costs beside its tasks: its IR op and tensors, its plan and mapping, its
# report row, and the row's text in report.json, ops.csv and report.html. Measured as TRACE_TASK_BYTES: `accelsim run
# -w lstm_lm -a A --set workload.seq_len=S --no-plots`, A = h100 (S = 2000, 8000: 8,006 and 32,006 ops, 8 tasks an
# op) and tpu-v4 (S = 500, 2000, 8000: 27 tasks an op): a least-squares fit of the five runs' maximum resident set
# size on their ops and tasks gives 6,768 B an op beside 602 B a task (63 MB for the interpreter); rounded up
KEPT_PASS_BYTES = 40 << 10  # memory a composed run (LLM serving, a pipeline, a diffusion pipeline) keeps of each
KEPT_ROW_BYTES = 2560  # simulated pass until its report is made: its figures, and each of its op rows (a decode step
# with options.decode_samples 0, every one kept: scenarios.passes.Kept). Measured as TRACE_TASK_BYTES: `accelsim run
# -w llama3_8b -a h100 --batch 1 --set workload.seq_len=2048 --set workload.decode_steps=N --set
# options.decode_samples=0 --set workload.attention=fused --no-plots`, with layer samples (a step: passes of 27 and
# 51 rows; N = 100, 800: 232,507 B a step) and without (one pass of 771 rows; N = 25, 100: 1,663,470 B a step):
# 2,114 B a row and 33,700 B a pass; rounded up. With options.trace each pass also keeps its task graph and trace
# for trace.json, TRACE_TASK_BYTES a task
STEP_BYTES = 64  # memory an LLM serving run's report keeps for each decode step, simulated or not: its step_cycles
# entry. Measured as TRACE_TASK_BYTES: `accelsim run -w llama3_8b -a h100 --batch 1 --set workload.seq_len=2048 --set
# workload.decode_steps=N --set workload.attention=fused --no-plots`, N = 1,000,000 and 5,000,000 (8 simulated):
# 44 B a step between them; rounded up


def memory_budget(options: Options, each: str) -> tuple[int, str]:
    """``options.memory_budget`` (the default where unset) and the words a refusal names it in, with ``each`` (the
    bytes it counts a thing at, "1024 B a task"): "options.memory_budget (N B at ~EACH)", a parallel sweep's worker's
    share of the default said so ("N B: half of this machine's memory over W workers at ~EACH", which the sweep
    runs again alone: sweep.store.share_refusal)."""
    budget = options.memory_budget or default_memory_budget()
    shared = f": half of this machine's memory over {sharing_memory()} workers" \
        if options.memory_budget is None and sharing_memory() > 1 else ""
    return budget, f"options.memory_budget ({budget:,} B{shared} at ~{each})"


_SHARERS = 1  # processes of one parallel sweep or serving grid on this machine, this one among them (share_memory)


def share_memory(processes: int) -> None:
    """Make this process one of ``processes`` that simulate at once on this machine (each worker of ``accelsim
    sweep --workers N`` or of a serving grid's ``cost.workers``, set as it starts): :func:`default_memory_budget` is
    then its share, so that together they stay within the default."""
    global _SHARERS
    _SHARERS = max(int(processes), 1)


def sharing_memory() -> int:
    """The processes :func:`share_memory` last said this one shares the machine's memory with (1: none)."""
    return _SHARERS


def default_memory_budget() -> int:
    """Half of this machine's physical memory (8 GiB where it cannot be read), divided among the processes this one
    shares it with (:func:`share_memory`)."""
    try:
        half = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        half = 8 << 30
    return half // _SHARERS


OFFLOAD_TRAINING_ONLY = ("training only: it keeps a training step's optimizer states or stashed activations in host "
                         "memory, and an inference run has neither (leave it out, or set none)")
"""The one-line refusal of ``options.offload`` in an inference run (the config layer and the scenarios give it)."""
OFFLOAD_OPTIMIZER = ("optimizer", "optimizer_cpu")
"""The ``options.offload`` values that keep the optimizer states in host memory: ``optimizer`` (the device runs the
step over the link) and ``optimizer_cpu`` (the host's CPU runs it: ZeRO-Offload)."""
DISTRIBUTED_OPTIMIZER_TRAINING_ONLY = ("training only: it shards a training step's optimizer states over the "
                                       "data-parallel ranks, and an inference run has none (leave it out, or set "
                                       "false)")
"""The one-line refusal of ``options.distributed_optimizer`` in an inference run."""
RECOMPUTE_TRAINING_ONLY = ("training only: it re-runs forward ops in a training step's backward pass, and an "
                           "inference run has none (leave it out, or set none; or set mode: training)")
"""The one-line refusal of ``workload.recompute`` other than none in an inference run."""
OPTIMIZER_TRAINING_ONLY = ("training only: it picks the optimizer step that follows a training step's backward "
                           "pass, and an inference run has none (leave it out; or set mode: training)")
"""The one-line refusal of ``workload.optimizer`` written in an inference run (by the user: a preset's default is
not)."""


_BOOL = TypeAdapter(bool)


def _bool_or_auto(value: object) -> object:
    """A boolean as pydantic reads one (true, "false", 0, ...), or "auto": one error for anything else (the union
    gave one a member)."""
    if value == "auto":
        return value
    try:
        return _BOOL.validate_python(value)
    except ValidationError:
        raise ValueError("must be true, false or auto") from None


class Options(BaseModel):
    """Options of one run. Every field has a default; an experiment's ``options:`` overrides any of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    split_ops: bool = Field(
        True, description="Spread each op's tile groups round robin over every unit of its kind on the chip (all "
                          "systolic arrays of all cores, or every vector unit); off: one unit per op, and "
                          "independent ops run on different units at once.")
    fold_batchnorm: Annotated[bool | Literal["auto"], BeforeValidator(_bool_or_auto)] = Field(
        "auto", description="Fold an inference batch norm into the convolution (or linear) before it, its only "
                            "reader (no kernel or vector-unit work of its own). 'auto': not on a GPU preset (a core "
                            "with core.tile), whose launches model eager PyTorch (and CUDA graphs captured from "
                            "it): nn.BatchNorm2d in eval calls F.batch_norm, a cuDNN / ATen kernel of its own, and "
                            "a compiler (torch.fx fusion, torch.compile freezing, TensorRT) folds it, or the model's "
                            "own inference code as it loads the weights (yolov8n: Ultralytics' fuse(), folded "
                            "there too); folded elsewhere, as an NPU's compiler does. true / false: on every arch.")
    activations_on_chip: bool = Field(
        True, description="Keep an activation in SRAM between producer and consumers when it fits beside the "
                          "other live activations (else it round-trips through HBM).")
    cache_residency: bool = Field(
        True, description="On an arch with a shared cache level (a GPU's L2): an activation a producer wrote is read "
                          "by a later op from the cache (its bandwidth and latency, no main-memory read) while it "
                          "and what the ops between touched fit half the cache (mapping/l2resident.py); the "
                          "producer's write still reaches main memory.")
    warm_inputs: bool | tuple[str, ...] = Field(
        False, description="How a measurement was taken: the graph's inputs (true: all; a list: those named) start "
                           "in the shared cache, as when a profiler re-runs a kernel on the same tensors or right "
                           "after their producer. Needs cache_residency.")
    warm_params: int = Field(
        0, ge=0, description="How a measurement was taken: the graph is re-run back to back on the same parameters, "
                             "with this many copies of each per run (a collector timing N layers of one shape, "
                             "each its own weights, on the same input, replay after replay); 0: off. The "
                             "parameters start in the shared cache when one run's footprint, N copies of every "
                             "parameter included, fits (mapping/l2resident.py). Needs cache_residency.")

    @field_validator("warm_inputs", "warm_params")
    @classmethod
    def _warm_needs_residency(cls, value: bool | tuple[str, ...] | int, info: ValidationInfo) -> object:
        """A warm start describes what the shared cache holds: without cache_residency nothing is read from it."""
        if value and info.data.get("cache_residency") is False:
            raise ValueError("needs cache_residency (false) to be true: a warm start is what the shared cache holds")
        return value

    max_tiles_per_op: PositiveInt = Field(
        16, description="Upper bound on tile groups (compute tasks) per op; tiles beyond it are merged, and an op "
                          "it coarsens runs up to 2 × ramp_max ramp groups a unit more (docs/architecture.md, \"Tasks\"). "
                          "16 keeps LLaMA-2-7B serving within 0.01 % of 32.")
    ramp_max: int = Field(
        4, ge=0, le=8,
        description="The most halvings of a unit's first and of its last tile group where max_tiles_per_op leaves "
                    "an op's groups coarser than its finest (docs/architecture.md, \"Tasks\": the ramp lets each "
                    "unit start after a small load and end on a small compute and store; each end keeps the "
                    "halvings that pay, traffic.ramp_groups): an op so cut runs up to "
                    "2 × ramp_max more groups a unit. 0 turns the ramp off (fewest tasks, the coarse ends' "
                    "bubbles back: 8192³ on tpu-v4 4.04 -> 4.73 ms).")
    min_tiles_per_op: PositiveInt = Field(
        4, description="Lower bound on tile groups per op, so loads, compute and stores of one op overlap "
                       "even when the op fits SRAM whole (streaming).")
    @field_validator("decode_samples")
    @classmethod
    def _both_ends(cls, value: int) -> int:
        """One sample cannot be both the first and the last decode step (it priced every step as the last,
        longest-KV one)."""
        if value == 1:
            raise ValueError("must be 0 (every decode step) or at least 2 (the first and the last decode step are "
                             "always among the samples)")
        return value

    @field_validator("min_tiles_per_op")
    @classmethod
    def _min_at_most_max(cls, value: int, info: ValidationInfo) -> int:
        """min_tiles_per_op above max_tiles_per_op asks for contradictory bounds (the maximum won, silently)."""
        top = info.data.get("max_tiles_per_op")
        if top is not None and value > top:
            raise ValueError(f"must be at most max_tiles_per_op ({top})")
        return value

    decode_samples: int = Field(
        8, ge=0, description="LLM serving: decode steps simulated exactly (evenly spread, first and last "
                             "included, so 0 or at least 2); the others are interpolated in the KV length. 0 = "
                             "simulate every step.")
    layer_samples: bool = Field(
        True, description="Pipeline-parallel runs: a stage of more than 2 identical layers is simulated with 1 and "
                          "with 2 layers and its figures extrapolated affinely in the layer count (identical layers "
                          "run back to back; a stage whose eager launches are not affine in its layers is simulated "
                          "in full); LLM serving runs (gpt, gpt2, LLaMA-2, hf models of identical layers) "
                          "likewise for each pass, where the whole model fits the first memory and no trace is asked "
                          "for. False simulates every layer.")
    offload: Literal["none", "optimizer", "optimizer_cpu", "activations"] = Field(
        "none", description="Training: keep the optimizer state ('optimizer', 'optimizer_cpu') or the activations "
                            "stashed for the backward pass ('activations') in host memory, reached over the host "
                            "link. 'optimizer': the device runs the step, streaming the state over the link (as "
                            "a paged optimizer in unified memory would); 'optimizer_cpu': the host's CPU runs it "
                            "(ZeRO-Offload, DeepSpeed's offload_optimizer device cpu): the gradients cross the "
                            "link down, the updated parameters up (needs the arch's host.cpu).")
    distributed_optimizer: bool = Field(
        False, description="Training with data parallelism (the chips beyond tensor × pipeline parallel): each "
                           "data-parallel rank keeps 1/dp of the optimizer state and updates 1/dp of each parameter "
                           "(Megatron-LM's --use-distributed-optimizer, ZeRO stage 1): the gradient is "
                           "reduce-scattered instead of all-reduced, and the updated parameter all-gathered. "
                           "offload: optimizer_cpu implies it (ZeRO-Offload partitions its CPU step so; report.json's "
                           "options records it true), and false beside it is refused.")

    @field_validator("distributed_optimizer")
    @classmethod
    def _offload_cpu_is_partitioned(cls, value: bool, info: ValidationInfo) -> bool:
        """``false`` written beside ``offload: optimizer_cpu``: ZeRO-Offload is built on ZeRO-2 and always partitions
        the optimizer state and its CPU step over the data-parallel ranks (Ren et al. 2021, Sec. 4.2; DeepSpeed's
        offload_optimizer needs ZeRO stage 1 or more), so every rank holding and stepping the whole state is a
        setup no framework runs (probe p144 #1: 4x the host memory, link bytes and CPU time at dp 4)."""
        if value is False and info.data.get("offload") == "optimizer_cpu":
            raise ValueError("cannot be false with offload: optimizer_cpu, which partitions the optimizer states and "
                             "the host CPU's step over the data-parallel ranks as ZeRO-Offload does (built on ZeRO-2; "
                             "DeepSpeed's offload_optimizer needs ZeRO stage 1 or more): leave it out, or set true")
        return value

    @property
    def sharded_optimizer(self) -> bool:
        """Whether a training step's optimizer states and step are sharded over the data-parallel ranks:
        ``distributed_optimizer``, or ``offload: optimizer_cpu`` (ZeRO-Offload, which always partitions them). What
        the run does; ``distributed_optimizer`` is what the user wrote."""
        return self.distributed_optimizer or self.offload == "optimizer_cpu"

    memory_budget: Annotated[int, BeforeValidator(parse_size), Field(gt=0)] | None = Field(
        None, description="Memory a simulated pass may take (bytes or a size such as 8GiB; default: half of this "
                          "machine's memory, divided among the workers of a parallel sweep or serving grid). Lowering stops with a one-line error, before memory runs out, when a "
                          "pass needs more tasks than that holds (about TASK_BYTES each, with or without trace: trace.json is "
                          "streamed) beside its ops (OP_BYTES each), or when a run of several passes "
                          "would keep more of them together (KEPT_PASS_BYTES, KEPT_ROW_BYTES, and with trace "
                          "TRACE_TASK_BYTES a task).")
    execution: Literal["auto", "eager", "cuda_graph"] = Field(
        "auto", description="How the host dispatches kernels (presets with a kernel_launch time: GPUs). 'eager': the "
                            "host issues each kernel itself, arch.kernel_launch apiece, running ahead of the device; "
                            "'cuda_graph': one graph launch per pass (arch.graph_launch) issues every kernel. In both "
                            "a kernel starts arch.kernel_dispatch after its launch was issued and its inputs are "
                            "ready. 'auto': cuda_graph for an LLM's decode steps (a run of phase decode, or "
                            "decode_steps), eager otherwise.")
    kernel_order: Literal["stream", "dataflow"] = Field(
        "stream", description="When a GPU kernel (presets with a kernel_dispatch time) may start. 'stream': in "
                              "launch order, each after the one before it completes, as kernels issued to one "
                              "CUDA stream run (PyTorch's default stream, and a CUDA graph captured from it); a "
                              "data-parallel gradient all-reduce still overlaps the backward pass (it runs on "
                              "its own stream). 'dataflow': as soon as its inputs are ready, independent kernels "
                              "running at once (several streams).")
    all_reduce: Literal["nccl", "custom"] = Field(
        "nccl", description="How an all-reduce inside one node runs. 'nccl': NCCL's algorithms (or the "
                            "interconnect's formula). 'custom': a serving engine's own kernel where it runs one, "
                            "vLLM's custom all-reduce (one-shot below 256 KiB on 8 GPUs, 512 KiB on 2-4, two-shot "
                            "above, under 8 MiB, for 2, 4, 6 or 8 fully connected GPUs): the link's latency once + "
                            "the bytes each GPU reads from its peers "
                            "(accelsim/cost/collective.py). accelsim serve uses it unless "
                            "engine.custom_all_reduce is false.")
    conv_precision: Literal["auto", "ieee"] = Field(
        "auto", description="The rate a convolution (CONV, CONV_TRANSPOSE and their backward ops; not a depthwise "
                            "one, which runs on CUDA cores) computes at. "
                            "'auto': as the arch's software runs it by default (core.systolic.conv_runs_as): on the "
                            "NVIDIA GPU presets an fp32 convolution runs on the TF32 tensor cores, as cuDNN does "
                            "under PyTorch's default torch.backends.cudnn.allow_tf32 = True (fp32 linears and "
                            "matmuls stay fp32: torch.backends.cuda.matmul.allow_tf32 is False by default); the run "
                            "says so in a note. 'ieee': every convolution at its own dtype's rate "
                            "(allow_tf32 = False, torch.backends.cudnn.conv.fp32_precision = 'ieee').")
    depthwise: Literal["auto", "array", "vector"] = Field(
        "auto", description="Where depthwise convolutions (groups = input channels > 1, and their backward ops) "
                            "run. 'array': on the systolic array, one m x n x kh·kw GEMM per channel (SCALE-Sim's "
                            "per-channel mapping); 'vector': on the core's vector unit, ⌈MACs · c(fma) / lanes⌉ "
                            "cycles at the unit's rate for the dtype (or for the dtype its kernel accumulates in, "
                            "core.vector.depthwise_runs_as: fp32 on a100 and h100), plus their bytes; 'auto': "
                            "'vector' on a GPU preset "
                            "(a core with core.tile: PyTorch sends such convs to cuDNN's or its own "
                            "conv_depthwise2d CUDA-core kernels, not to tensor-core GEMMs), 'array' elsewhere.")
    step_overhead: Annotated[float, BeforeValidator(parse_time), Field(ge=0, le=3600)] = Field(
        0.0, description="Host time before each pass's first kernel (a serving engine's per-step scheduling, input "
                         "preparation and sampling, e.g. 2ms), on the critical path; 0 = none.")
    throttle_to_tdp: bool = Field(
        False, description="When the run's average power per chip in its package (power.package_w_per_chip: off-package "
                           "memory devices apart) exceeds the arch's energy.tdp, simulate it again "
                           "with the clock lowered to the first-order factor (TDP − static) / dynamic power "
                           "(dynamic power ∝ clock at a fixed voltage; docs/energy.md).")
    plots: bool = Field(True, description="Write PNG plots with the report.")
    trace: bool = Field(False, description="Write a Chrome/Perfetto trace.json with the report.")


UNRECORDED = ("plots", "trace", "memory_budget")
"""Options report.json's ``options`` leaves out: what a run writes and the memory it may take, not what it
simulates (two runs differing only in them report the same figures)."""

_DEFAULTS: dict[str, object] = {}


def defaults() -> dict[str, object]:
    """Every option's default as a JSON value (what a report's ``options`` leaves out stands at)."""
    if not _DEFAULTS:
        _DEFAULTS.update(Options().model_dump(mode="json"))
    return _DEFAULTS


def recorded(options: Options | None) -> dict[str, object]:
    """report.json's ``options``: the run's options that differ from their defaults, as JSON values (a tuple as a
    list), in the fields' order, :data:`UNRECORDED` left out; ``{}`` for a run with the defaults (or None).
    ``distributed_optimizer`` is what ran (:attr:`Options.sharded_optimizer`): true under ``offload: optimizer_cpu``
    though left out."""
    if options is None:
        return {}
    default = defaults()
    ran = {**options.model_dump(mode="json"), "distributed_optimizer": options.sharded_optimizer}
    return {k: v for k, v in ran.items() if k not in UNRECORDED and v != default[k]}
