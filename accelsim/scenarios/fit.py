"""The refusal of a run whose footprint does not fit a memory: one policy for every training run (a ``gpt`` pipeline
stage, a whole hf model on a chip): state that does not fit the main memory is an error unless ``options.offload``
moves it out, never a silent spill to host memory.

:class:`NoFit` carries the footprint that overflows (raised where the footprint is known: the pipeline's stage
composition, a single pass's placement); :func:`explain` turns it into the one-line :class:`WorkloadError` at the
workload key the user set last among those that size the footprint (``WorkloadSpec.latest``), listing only the
remedies that apply, each with the footprint it would leave, computed with the same footprint: the stronger
``recompute`` settings (their stash from the builder, and the largest op's working set placement reserves under
each, :class:`StageStash`), ``options.distributed_optimizer`` (data parallelism > 1),
``options.offload: optimizer`` (where the host can hold the states), ``options.offload: activations`` (where it can
hold the stashes in flight); and the remedies that scale that the builder
takes (more tensor or pipeline parallelism; when the rest fits without the activations, fewer tokens a micro-batch,
or a smaller batch for a model without ``seq_len``). A single pass's footprint comes from placement
(``errors.CapacityError.row``, for every trained model: a CNN's too), a pipeline's from its stages (or a layer
sample already too big)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ..builders.registry import get_builder
from ..builders.training import step_as_run
from ..config import WorkloadSpec
from ..errors import CapacityError, WorkloadError
from ..hardware import Arch, usable_bytes
from ..ir import Graph
from ..mapping.aliases import aliases, runs_eager_copies
from ..mapping.fusion import fuse
from ..mapping.placement import place_tensors
from ..options import Options
from ..units import format_size

FOOTPRINT_KEYS = ("kv_len", "seq_len", "batch", "prompt_tokens", "src_len", "tgt_len", "q_len", "image_size", "m",
                  "n", "k", "height", "width", "kv_cache_dtype", "weight_dtype", "dtype", "tensor_parallel",
                  "pipeline_parallel", "hidden", "layers", "vocab", "pooling", "nodes", "edges", "features",
                  "edge_hidden", "fanouts", "sampler")
"""The workload keys that size an inference pass's footprint (its weights, KV cache and activations) where a
builder takes them (a recommender's ``pooling``: its ids, batch · pooling of them a table; a GNN's graph ``nodes``,
``edges``, ``features``, MPNN's ``edge_hidden`` and GraphSAGE's sampled ``fanouts`` and ``sampler``: probe p112 #3),
in the order a tie between them is resolved: a capacity error about memories too small for
the pass is at the one set last, where that was set more recently than the capacities (:func:`..run_workload`),
unless the fixed footprint alone overflows (:func:`fixed_overflow`): then at the capacity."""
PARTS = ("weights", "kv_cache", "state", "gradients", "optimizer_states", "activations")
RECOMPUTE = ("none", "selective", "full")


class NoFit(WorkloadError):
    """A footprint that does not fit memory ``level``: ``row`` its bytes by kind (report.json's ``memory`` row,
    with ``used`` and ``capacity``), ``where`` ("a chip", "pipeline stage 3"), ``flight`` the micro-batches of
    stashed activations held (1F1B), ``stash_level`` the memory that holds the stash, ``stage`` the pipeline stage.
    Its own message gives the remedies that need no rebuild (:func:`explain` gives the full one)."""

    def __init__(self, name: str, where: str, level: str, row: Mapping[str, float], *, main: bool, training: bool,
                 flight: float = 1.0, stash_level: str = "", stage: int = 0, spill: bool = False):
        self.name, self.where, self.level, self.row = name, where, level, dict(row)
        self.main, self.training, self.flight, self.stash_level, self.stage = main, training, flight, stash_level, stage
        self.spill = spill
        super().__init__(self.message(generic_advice(self)), ("batch",))

    def message(self, advice: str) -> str:
        row = self.row
        parts = ", ".join(f"{k.replace('_', ' ')} {int(row[k]):,}" for k in PARTS if row.get(k))
        # what a program can allocate of it (hbm.usable_fraction), where that is less than the capacity
        usable = f" usable of its {int(row['capacity']):,} B" if "usable" in row else ""
        return (f"{self.name}: {self.where} needs {int(row['used']):,} B of {self.level} ({parts}"
                + (f"; {self.flight:g} micro-batches of activations in flight" if self.flight > 1 else "")
                + f") but it holds {int(usable_bytes(row)):,} B{usable}"
                + (" (training state is not spilled to host memory unless options.offload asks)" if self.spill else "")
                + f": {advice}")


def generic_advice(e: NoFit) -> str:
    """The remedies of a footprint whose workload is not known (a Graph run directly)."""
    row = e.row
    if e.main:
        if e.training:
            return ("use more tensor or pipeline parallelism, options.distributed_optimizer (with data parallelism), "
                    "options.offload: optimizer, recompute, or fewer tokens a micro-batch")
        return "use more tensor or pipeline parallelism, or fewer tokens"
    return (f"use a larger {e.level} capacity, more tensor or pipeline parallelism"
            + (", options.distributed_optimizer" if row.get("optimizer_states") else "")
            + (", or fewer tokens a micro-batch" if row.get("activations") else ""))


def explain(e: NoFit, workload: WorkloadSpec, arch: Arch, options: Options, dp: int,
            stash: Callable[[str], int] | None) -> WorkloadError:
    """``e`` as the error at the key the user set last, with the remedies that apply; ``dp`` is the run's data
    parallelism and ``stash(recompute)`` the stashed activation bytes of one micro-batch of ``e``'s stage (or
    chip) under that ``recompute`` (None: not a model that takes it)."""
    params = workload.params
    row, cap, used = e.row, int(usable_bytes(e.row)), int(e.row["used"])
    recompute = str(params.get("recompute") or "none")
    if not e.main or not e.training:
        return _at(e, workload, generic_advice(e), recompute, arch)
    tried: list[tuple[str, int]] = []  # (remedy, the footprint it leaves)
    if stash is not None and e.stash_level == e.level and row.get("activations") and recompute in RECOMPUTE:
        # each micro-batch in flight stashes less; the one running holds the largest op's working set, which grows
        # by what that op reads that is no longer stashed (recomputed: its working set counts it), worked out under
        # the remedy (StageStash.working_set) where the stash can say it
        now = stash(recompute)
        work = stash.working_set if isinstance(stash, StageStash) else None
        held = work(recompute, options) if work is not None else None
        for alt in RECOMPUTE[RECOMPUTE.index(recompute) + 1:]:
            other = work(alt, options) if work is not None and held is not None else None
            grows = other - held if other is not None and held is not None else 0
            tried.append((f"recompute: {alt}", used - round(e.flight * (now - stash(alt))) + grows))
    opt = int(row.get("optimizer_states", 0))
    if opt and dp > 1 and not options.sharded_optimizer:
        tried.append(("options.distributed_optimizer", used - opt + opt // dp))
    if opt and options.offload == "none" and arch.spill_memory is not None and \
            opt <= arch.memory(arch.spill_memory).usable:  # (where the host can hold the states)
        tried.append(("options.offload: optimizer", used - opt))
    if (kept := _offloadable_stash(e, workload, arch, options, stash, recompute)) is not None:
        tried.append(("options.offload: activations", used - kept))  # (the stashes in flight in host memory)
    fits = [(r, u) for r, u in tried if u <= cap]
    scale = _scale(workload, used - int(row.get("activations", 0)) <= cap)
    if fits:
        advice = "use " + ", ".join(f"{r} (needs {u:,} B)" for r, u in fits) + (f"; or {scale}" if scale else "")
    elif tried:
        best = min(tried, key=lambda t: t[1])
        advice = (f"{best[0]} alone does not fit (it needs {best[1]:,} B)" if len(tried) == 1 else
                  f"no one of {', '.join(r for r, _ in tried)} fits alone (the best, {best[0]}, needs "
                  f"{best[1]:,} B)") + (f"; use {scale}" if scale else "")
    else:
        advice = f"use {scale}" if scale else f"it does not fit one chip's {e.level}"
    fixed = int(row.get("weights", 0) + row.get("gradients", 0) + row.get("optimizer_states", 0))
    static = static_remedies(workload, arch, options, dp, row, dict(fits),
                             _expert_share(workload, arch, stash, recompute) if fixed > cap else None)
    return _at(e, workload, advice, recompute, arch, static)


def _offloadable_stash(e: NoFit, workload: WorkloadSpec, arch: Arch, options: Options,
                       stash: Callable[[str], int] | None, recompute: str) -> int | None:
    """The stash bytes ``options.offload: activations`` would move out of ``e``'s main memory (the stashes of the
    micro-batches in flight: placement keeps them in the next memory out, the host, and the working set where it
    was), where that is a remedy: offload unset, the stash in the memory that overflows, a host memory that holds
    it; else None. The stash is ``stash(recompute)``'s or, for a model without ``recompute``, that of the graph the
    run built (built again; probe p222 #3: resnet50 at batch 2048 on tpu-v4 was told only to use a smaller batch,
    though its 86.3 GB stash fits the host and the rest, 10.3 GB, HBM)."""
    if options.offload != "none" or arch.spill_memory is None or e.stash_level != e.level:
        return None
    try:
        one = stash(recompute) if stash is not None else int(_built(workload, arch).info.stashed_activation_bytes)
    except WorkloadError:
        return None
    kept = round(e.flight * one)
    # a layer sample's stash (StageStash built with fewer layers than the run's): the host must hold the whole
    # stage's, at most the sample's times the layers' ratio
    whole, sample = workload.params.get("layers"), stash.params.get("layers") if isinstance(stash, StageStash) else None
    host = kept * whole / sample if isinstance(whole, int) and isinstance(sample, int) and whole > sample else kept
    if not 0 < kept <= int(e.row.get("activations", 0)) or host > arch.memory(arch.spill_memory).usable:
        return None
    return kept


def _expert_share(workload: WorkloadSpec, arch: Arch, stash: Callable[[str], int] | None,
                  recompute: str) -> tuple[int, float] | None:
    """(routed experts, the share of the parameters' optimizer state that is theirs) of the graph the run built
    (``stash``'s, else built again), for a model whose builder takes ``expert_parallel``; None for any other. The
    optimizer state is 4 B an element (and an fp32 master copy for each narrower parameter), so the share is the
    experts' share of the parameters, of their weights and of their gradients where every parameter has one dtype."""
    if "expert_parallel" not in get_builder(workload.model).params.model_fields:
        return None
    graph = stash.graph(recompute) if isinstance(stash, StageStash) else _built(workload, arch)
    experts = int((graph.meta.get("moe") or {}).get("experts") or 0)
    steps = [op.attrs for op in graph.ops if "state_bytes" in op.attrs]
    total = sum(int(a["state_bytes"]) for a in steps)
    if experts < 2 or not total:
        return None
    return experts, sum(int(a["state_bytes"]) for a in steps if a.get("expert")) / total


def _built(workload: WorkloadSpec, arch: Arch) -> Graph:
    from ..config import build_graph

    return stash_as_run(build_graph(workload, arch.dtype), arch)


def stash_as_run(graph: Graph, arch: Arch) -> Graph:
    """A training step's stash as ``arch`` keeps it (``scenarios.single.run_graph`` places it, and the fit advice
    weighs it): on a GPU preset a torch.cat a builder marks ``eager_copy`` is a copy kernel whose output the next op
    saves for its backward (``builders.training.eager_cat_stash``) and a bf16 / fp16 batch norm runs PyTorch's
    native CUDA kernels (``builders.training.eager_batchnorm``); elsewhere the concatenation is a view and a max
    pool keeps no indices (``builders.training.compiled_pools``: XLA's select_and_scatter_add re-reads its input):
    ``builders.training.step_as_run``."""
    return step_as_run(graph, runs_eager_copies(arch))


def _more_experts(share: tuple[int, float], row: Mapping[str, float], ep: int, group: int, dp: int,
                  chips: int) -> str:
    """More expert parallelism: each chip holds ``ep`` / E of the experts at E-way expert parallelism, so their
    weights, gradients and optimizer states (``share`` of the fixed footprint now, :func:`_expert_share`) shrink
    by ``ep`` / E, the rest and the activations (each expert then runs E / ``ep`` times the tokens of E / ``ep``
    times fewer experts) staying. The run takes an E that divides the experts and the ``dp`` data-parallel chips,
    its E x ``group`` chips (tensor x context x pipeline parallelism) on the arch's ``chips``
    (:func:`~accelsim.mapping.lower.data_parallel`): the least such E above ``ep`` whose footprint fits, with
    that footprint; where none does on these chips, the least divisor of the experts that fits, with ``arch.chips``
    a multiple of E x ``group`` (whose data-parallel chips E divides); "" where no divisor fits (probe p227 #1:
    qwen1_5_moe_a2_7b on dgx-h100's 8 chips was told expert_parallel 5, "5 chips or more", which the run refuses,
    5 not dividing 8)."""
    experts, frac = share
    fixed = int(row.get("weights", 0) + row.get("gradients", 0) + row.get("optimizer_states", 0))
    theirs = round(fixed * frac)
    fitting = [(e, needs) for e in range(ep + 1, experts + 1)
               if experts % e == 0 and (needs := int(row["used"]) - theirs + theirs * ep // e) <= int(usable_bytes(row))]
    here = [(e, needs) for e, needs in fitting if dp % e == 0 and e * group <= chips]
    if here:
        e, needs = here[0]
        return (f"workload.expert_parallel {e}, a divisor of the {experts} experts and of the {dp} data-parallel "
                f"chips (needs about {needs:,} B at {e}; now {ep})")
    if fitting:
        e, needs = fitting[0]
        return (f"workload.expert_parallel {e}, a divisor of the {experts} experts, over arch.chips a multiple of "
                f"{e * group} for it to divide the data-parallel chips (needs about {needs:,} B at {e}; now {ep} on "
                f"{dp} data-parallel chips)")
    return ""


def static_remedies(workload: WorkloadSpec, arch: Arch, options: Options, dp: int,
                    row: Mapping[str, float], needs: Mapping[str, int] | None = None,
                    experts: tuple[int, float] | None = None) -> str:
    """What a training step's weights, gradients and optimizer states (``row``: the footprint) that alone overflow
    its memory need, said after :func:`fixed_overflow`: that no size key the model takes shrinks them (so the error
    is at the capacity), and what can: more tensor or pipeline parallelism (those the builder takes; over more chips
    where the arch has no more); where the weights and gradients fit without the states,
    ``options.distributed_optimizer`` (as the run is where it fits so, else over the least replicas that hold
    the states, :func:`_more_replicas`) and
    ``options.offload: optimizer`` (where a memory beyond the main one holds the states); ``needs``: the footprint
    each remedy that fits leaves (:func:`explain`'s), said beside it, so that the error lists each remedy once;
    ``experts``: an MoE model's routed experts and their share of the parameters (:func:`_expert_share`), for
    more ``expert_parallel`` (the least the run takes that fits, :func:`_more_experts`; probe p119 #4)."""
    fields = get_builder(workload.model).params.model_fields
    opt = int(row.get("optimizer_states", 0))
    rest_fits = int(row.get("weights", 0) + row.get("gradients", 0)) <= int(usable_bytes(row))
    sizes = [k for k in ("seq_len", "batch", "micro_batches", "recompute") if k in fields]
    used = 1
    for key in ("tensor_parallel", "context_parallel", "pipeline_parallel"):
        used *= int(workload.params.get(key, 1) or 1)
    ep = int(workload.params.get("expert_parallel", 1) or 1)
    kinds = [k for k in ("tensor", "pipeline") if f"{k}_parallel" in fields]
    fixes = [f"more {' or '.join(kinds)} parallelism" + (" over more chips" if arch.chips <= used * ep else "")] \
        if kinds else []
    if experts is not None and "expert_parallel" in fields and \
            (more := _more_experts(experts, row, ep, used, dp, arch.chips)):
        fixes.append(more)
    needs = needs or {}
    said_needs = lambda r: f" (needs {needs[r]:,} B)" if r in needs else ""  # noqa: E731
    # the room the weights, gradients and activations leave: no share of the states, nor the states' offload, makes
    # a step fit where it is none (fp32 gradients of a bf16 model: 2 + 4 B a parameter can fill a chip alone)
    room = int(usable_bytes(row) - row.get("weights", 0) - row.get("gradients", 0) - row.get("activations", 0))
    if opt and rest_fits and "options.distributed_optimizer" in needs:  # it fits as the run is
        fixes.append("options.distributed_optimizer" + said_needs("options.distributed_optimizer"))
    elif opt and rest_fits and room > 0:  # over more replicas than the run has (probe p81: at its own 2 it did not)
        fixes.append(_more_replicas(opt * (max(dp, 1) if options.sharded_optimizer else 1), room, dp, used))
    if opt and rest_fits and (room >= 0 or "options.offload: optimizer" in needs) and options.offload == "none" \
            and arch.spill_memory is not None and opt <= arch.memory(arch.spill_memory).usable:
        fixes.append("options.offload: optimizer" + said_needs("options.offload: optimizer"))
    said = f", whatever the {', '.join(sizes[:-1])} or {sizes[-1]}" if len(sizes) > 1 else \
        f", whatever the {sizes[0]}" if sizes else ""
    what = (", ".join(fixes[:-1]) + f" or {fixes[-1]}" if len(fixes) > 1 else fixes[0]) if fixes else ""
    return said + (f"; what can make them fit: {what}" if what else "")


def _more_replicas(states: int, room: int, dp: int, group: int) -> str:
    """The distributed optimizer over more data-parallel replicas than the run's ``dp``: ``states`` B of optimizer
    states in all split D ways fit the ``room`` the weights, gradients and activations leave (a replica's share of
    the batch, and so its activations, stay as they are) when D >= ceil(states / room), and more than ``dp`` (at
    ``dp`` it does not fit); each replica spans ``group`` chips (tensor x context x pipeline parallelism), so D x
    group chips or more (probe p82: the count without the activations, 5 for llama2_13b on a100, still did not
    fit; 6 does)."""
    least = max(-(-states // room), dp + 1)
    return (f"options.distributed_optimizer over {least} or more data-parallel replicas ({least * group} chips or "
            f"more; now {dp})")


def _scale(workload: WorkloadSpec, rest_fits: bool) -> str:
    """The remedies that scale, those the model takes: more tensor or pipeline parallelism (its builder's
    ``tensor_parallel``, ``pipeline_parallel``); where the rest fits without the activations, fewer tokens a
    micro-batch (a model with ``seq_len``), else a smaller batch."""
    fields = get_builder(workload.model).params.model_fields
    kinds = [k for k in ("tensor", "pipeline") if f"{k}_parallel" in fields]
    out = f"more {' or '.join(kinds)} parallelism" if kinds else ""
    if rest_fits:  # fewer tokens (a smaller batch) shrink the activations
        fewer = "fewer tokens a micro-batch" if "seq_len" in fields else "a smaller batch"
        out = f"{out}, or {fewer}" if out else fewer
    return out


def _at(e: NoFit, workload: WorkloadSpec, advice: str, recompute: str, arch: Arch | None = None,
        static: str = "") -> WorkloadError:
    """The error at the key set last of those that size the footprint (a tie: the first listed); recompute only
    where it could still shrink the stash, batch only above 1, micro_batches only where it sets the flight. Its
    ``arch_key`` is the capacity of the memory that overflows, which the scenario names instead where that was set
    more recently (``--set arch.hbm.capacity=40GiB`` after a preset's batch). Where the weights, gradients and
    optimizer states alone overflow it, no such key can make the step fit: the error is at the capacity (the key
    that could change, docs/training.md), and says so without reading as if the value there were wrong: the
    capacity and the arch it is of are named as the size the state does not fit, and ``static``
    (:func:`static_remedies`) is the one list of remedies, ``advice`` left out (each of its remedies that fits is
    there, with what it needs)."""
    params = workload.params
    row = e.row
    fixed = int(row.get("weights", 0) + row.get("gradients", 0) + row.get("optimizer_states", 0))
    arch_key = arch.capacity_key(e.level) if arch is not None else ()
    cap = int(usable_bytes(row))  # what a program can allocate of the capacity (hbm.usable_fraction)
    usable = f", {format_size(cap)} usable" if "usable" in row else ""
    of = (f" of {'.'.join(arch_key)} {format_size(int(row['capacity']))}{usable} (arch {arch.name})"
          if arch is not None else "")
    over = fixed_overflow(fixed, cap, "the weights, gradients and optimizer states", of)
    if over:  # the fixed footprint alone overflows, whatever the sizes: at the capacity (else the model's line)
        return WorkloadError(e.message(over.removeprefix("; ") + static), ("model",), arch_key, arch_first=True)
    keys = [*(["recompute"] if row.get("activations") and recompute != "full" and "recompute" in params else []),
            "seq_len", *(["batch"] if int(params.get("batch", 1) or 1) > 1 else []),
            *(["micro_batches"] if e.flight > 1 else []), "tensor_parallel", "pipeline_parallel", "hidden", "layers"]
    keys = [k for k in keys if k in params] or ["model"]
    key, _ = workload.latest(keys)
    return WorkloadError(e.message(advice), (key,), arch_key)


def fixed_overflow(fixed: int, room: int, what: str = "the weights", of: str = "") -> str:
    """The sentence that ends a capacity error whose fixed footprint (``what``: the weights, a training step's
    weights, gradients and optimizer states) of ``fixed`` bytes alone is more than the ``room`` bytes of the
    memories that could hold it (``of``: whose bytes those are, " of hbm.capacity 80GiB (arch a100)"); empty where
    it is not (or not known: ``room`` 0)."""
    if not room or fixed <= room:
        return ""
    return f"; {what} alone need {fixed:,} B, more than the {room:,} B{of or ' that holds them'}"


def stage_stash(workload: WorkloadSpec, arch: Arch, stage_params: Mapping[str, object]) -> StageStash:
    """The stashed activations of one micro-batch of the graph ``stage_params`` builds, by recompute (and its
    largest op's working set: :meth:`StageStash.working_set`)."""
    return StageStash(workload, arch, dict(stage_params))


@dataclass
class StageStash:
    """Called with a ``recompute`` setting: the stashed activation bytes of one micro-batch of the graph
    ``params`` builds under it. :meth:`working_set`: the largest op's working set placement reserves beside that
    stash, which grows as recompute stashes less (an op then reads a recomputed tensor that the stash held)."""

    workload: WorkloadSpec
    arch: Arch
    params: dict[str, object]
    _graphs: dict[str, Graph] = field(default_factory=dict, repr=False)

    def graph(self, recompute: str) -> Graph:
        if recompute not in self._graphs:
            from ..config import build_graph

            self._graphs[recompute] = stash_as_run(build_graph(replace(self.workload, params={**self.params,
                                                                                         "recompute": recompute}),
                                                          self.arch.dtype), self.arch)
        return self._graphs[recompute]

    def __call__(self, recompute: str) -> int:
        return int(self.graph(recompute).info.stashed_activation_bytes)

    def working_set(self, recompute: str, options: Options) -> int | None:
        """The largest op's working set under ``recompute``, as placement reserves it in the main memory
        (``mapping.placement.place_tensors``: an op's inputs and output that nothing else holds, the stash left
        out); None where placement refuses the graph without saying its footprint."""
        graph = self.graph(recompute)
        plans = fuse(aliases(graph, options, self.arch), graph, self.arch)
        try:
            return place_tensors(graph, self.arch, plans, options).peak_activation_bytes
        except CapacityError as e:  # (its activations row: the working set and the stash in the main memory)
            if not e.row:
                return None
            stash = 0 if options.offload == "activations" else int(graph.info.stashed_activation_bytes)
            return int(e.row["activations"]) - stash
