"""One graph, one simulation: map, simulate and report (the plain scenario, and each pass of the others)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .. import __version__
from ..builders.registry import BUILDERS
from ..builders.training import shard_optimizer, union_sparse_steps
from ..config import WorkloadSpec
from ..engine import simulate as run_engine
from ..errors import CapacityError, ConfigError, WorkloadError
from ..hardware import Arch, usable_bytes
from ..ir import Graph, OpKind
from ..mapping import activations_as_run, convs_as_run, data_parallel, dtypes_as_run, lower, stored_as_run
from ..options import DISTRIBUTED_OPTIMIZER_TRAINING_ONLY, OFFLOAD_OPTIMIZER, OFFLOAD_TRAINING_ONLY, Options
from ..report import Report, build_report, live_dict
from ..report.summary import footprint, held_bytes, unfused_attention_names
from .fit import NoFit, stash_as_run
from .passes import Pass

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def workload_info(graph: Graph, workload: WorkloadSpec) -> dict[str, object]:
    """What report.json says about the workload (``architecture``: a Hugging Face model's, when it has one)."""
    arch = {"architecture": graph.meta["architecture"]} if graph.meta.get("architecture") else {}
    unread = {"unread": list(graph.meta["unread_params"])} if graph.meta.get("unread_params") else {}
    return {"name": graph.name, "model": workload.model, **arch, "params": dict(workload.params),
            "batch": graph.meta.get("batch"), "dtype": graph.meta.get("dtype"), **unread}


_TOP_LEVEL_META = ("model", "architecture", "batch", "dtype", "unread_params")  # workload_info's own keys


def graph_info(graph: Graph) -> dict[str, object]:
    """What report.json says about a graph simulated without its workload spec (``simulate`` / ``api.run`` of a
    built Graph, SCALE-Sim inputs), in :func:`workload_info`'s shape: ``model`` from the graph's meta where it
    names one, and as ``params`` the meta values that are that builder's parameters (for a graph no builder made,
    the meta's plain values: a SCALE-Sim topology's ``source``, ``topology``, ``form``)."""
    meta = graph.meta
    model = meta.get("model") if isinstance(meta.get("model"), str) else None
    if model in BUILDERS:
        fields = BUILDERS[model].params.model_fields
        params = {k: meta[k] for k in fields if k in meta}
    else:
        params = {k: v for k, v in meta.items()
                  if k not in _TOP_LEVEL_META and (v is None or isinstance(v, (str, int, float, bool)))}
    arch = {"architecture": meta["architecture"]} if meta.get("architecture") else {}
    unread = {"unread": list(meta["unread_params"])} if meta.get("unread_params") else {}
    return {"name": graph.name, **({"model": model} if model else {}), **arch, "params": params,
            "batch": meta.get("batch"), "dtype": meta.get("dtype"), **unread}


def conv_note(dtype: str, run: str, n: int) -> str:
    """The run's note on ``n`` convolutions of ``dtype`` computed as ``run`` (:func:`~accelsim.mapping.convs_as_run`)."""
    return (f"{n} convolution op(s) of dtype {dtype} computed at the {run} rate (core.systolic.conv_runs_as), as "
            f"PyTorch runs them by default on this GPU (torch.backends.cudnn.allow_tf32 is True; fp32 linears and "
            f"matmuls stay {dtype}); --set options.conv_precision=ieee for the {dtype} rate")


def dtype_note(dtype: str, made: str, n: int) -> str:
    """The run's note on ``n`` ops of ``dtype`` run as ``made`` (:func:`~accelsim.mapping.dtypes_as_run`)."""
    return (f"{n} op(s) of dtype {dtype} run as {made}, their tensors {made} too (arch.dtype_as): what this arch's "
            f"software makes {dtype} arrays by default")


def activation_note(dtype: str, n: int) -> str:
    """The run's note on ``n`` ops that write their output in their own dtype, not ``dtype``
    (:func:`~accelsim.mapping.activations_as_run`)."""
    return (f"{n} op(s) write their output in their own 16-bit dtype, not {dtype}: only GEMMs this arch runs as "
            f"weight-only kernels at a wider rate read it (W8A16 / W4A16 Marlin: 16-bit activations, packed weights)")


def run_graph(graph: Graph, arch: Arch, options: Options | None = None, *, name: str | None = None,
              workload: Mapping[str, object] | None = None, progress: Progress | None = None) -> Report:
    """Map, simulate and report an already-built ``graph`` on ``arch``."""
    options = options or Options()
    graph, made = dtypes_as_run(graph, arch)  # a TPU's fp64 tensors made fp32, as JAX does (arch.dtype_as)
    graph, widened = activations_as_run(graph, arch)  # 16-bit activations into a weight-only Marlin GEMM
    graph = stored_as_run(graph, arch)  # N:M weights held as the pattern the array runs (the report's bytes too)
    if options.offload != "none" and graph.info.mode != "training":  # what the config layer refuses at its line
        raise ConfigError.one(None, "options.offload", OFFLOAD_TRAINING_ONLY, value=options.offload)
    if options.distributed_optimizer and graph.info.mode != "training":
        raise ConfigError.one(None, "options.distributed_optimizer", DISTRIBUTED_OPTIMIZER_TRAINING_ONLY, value=True)
    graph, ran_as = convs_as_run(graph, arch, options)  # fp32 convs on TF32 tensor cores, as PyTorch's default
    graph = stash_as_run(graph, arch)
    notes = [*(dtype_note(d, arch.dtype_as[d], n) for d, n in made.items()),
             *(conv_note(d, run, n) for (d, run), n in ran_as.items()),
             *(activation_note(d, n) for d, n in widened.items())]
    # the workload's overlap_grad_reduce as set (gpt's; GraphInfo's default, True, is every other model's DDP)
    overlap = graph.meta.get("overlap_grad_reduce") is True
    if graph.info.mode == "training" and (options.sharded_optimizer or overlap
                                          or any("sparse_rows" in op.attrs for op in graph.ops)):
        dp = data_parallel(graph, arch)
        # every replica's lazy step on a sparse table updates the rows the group's all-gathered gradients hold
        graph = union_sparse_steps(graph, dp)
        if options.sharded_optimizer:  # distributed_optimizer, or offload: optimizer_cpu (ZeRO-Offload's partition)
            # the note only where the user wrote distributed_optimizer; optimizer_cpu implies it (probe p144 #1)
            notes += [DP1_NOTE] if dp == 1 and options.distributed_optimizer else []
            graph = shard_optimizer(graph, dp)  # each data-parallel rank's share of the states
        if overlap and dp == 1:  # (probe p93 #5)
            notes.append(OVERLAP_DP1_NOTE)
    if progress:
        progress("mapping", 0, 1)
    try:
        tg = lower(graph, arch, options)
    except CapacityError as e:
        lazy = lazy_tables_overflow(graph, arch, options, e, name or f"{graph.name}_{arch.name}")
        if lazy is not None:  # tables placed by rows that still overflow every memory: said against them all
            raise lazy from None
        if not e.row:  # (a training step's main memory too small for it: refused as one that spills its state)
            raise
        raise NoFit(name or f"{graph.name}_{arch.name}", "a chip", arch.main_memory, e.row, main=True, training=True,
                    stash_level=(arch.spill_memory or arch.main_memory) if options.offload == "activations"
                    else arch.main_memory, spill=arch.spill_memory is not None) from None
    if graph.info.mode == "training":
        refuse_spilled_state(graph, arch, tg, options, name or f"{graph.name}_{arch.name}")
    if progress:
        progress("simulating", 0, len(tg))
        trace = run_engine(tg, lambda done, total: progress("simulating", done, total))
    else:
        trace = run_engine(tg)
    info = dict(workload) if workload is not None else graph_info(graph)
    data = build_report(graph, arch, tg, trace, name=name or f"{graph.name}_{arch.name}", workload=info,
                        version=__version__, options=options)
    if notes:
        data["notes"] = [*data.get("notes", []), *notes]
    return Report(data, segments=[(tg, trace, 0)], plots=options.plots, trace=options.trace)


def lazy_tables_overflow(graph: Graph, arch: Arch, options: Options, e: CapacityError,
                         name: str) -> WorkloadError | None:
    """The refusal of a training step with tables a lazy optimizer step updates by rows (``sparse_rows``: a
    recommender's, placed by rows with their optimizer states, the rows the main memory has no room for in the memories
    beyond it, docs/training.md) whose footprint (``e.row``, placement's) does not fit even so: against the main
    memory and the ones beyond it together, or, under ``options.offload: optimizer``, against the memories beyond
    it, which then hold every optimizer state and the rows the main memory has no room for (probe p112 #2: the main
    memory's refusal said "not spilled to host memory" and compared with hbm alone; under offload its "optimizer
    states alone" figure held none). It says the bytes short and what is spilled, and names
    ``workload.embedding_parallel`` (sharding the tables and their states over chips) where the model takes it;
    at the capacity of the memory compared (``arch_first``: no workload size key shrinks the tables). None for any
    other step, or one that fits so (the main memory's refusal stands)."""
    if graph.info.mode != "training" or not e.row:
        return None
    lazy: dict[str, int] = {}  # table → its bytes and its states'
    for op in graph.ops:
        if op.kind is OpKind.OPTIMIZER and "sparse_rows" in op.attrs and op.weights:
            lazy[op.weights[0].name] = sum(w.nbytes(op.dtype) for w in op.weights
                                           if w is op.weights[0] or w.role == "state")
    if not lazy:
        return None
    seen: dict[str, tuple[int, str]] = {}
    for op in graph.ops:
        for w in op.weights:
            seen.setdefault(w.name, (w.nbytes(op.dtype), w.role))
    weights = sum(b for b, role in seen.values() if role not in ("state", "host"))
    states = sum(b for b, role in seen.values() if role == "state")
    grads, acts, kv = int(e.row.get("gradients", 0)), int(e.row.get("activations", 0)), int(e.row.get("kv_cache", 0))
    need = weights + states + grads + acts + kv
    levels = arch.memories
    caps = {lv: arch.memory(lv).usable for lv in levels}  # what a program can allocate
    main, outer = levels[0], levels[1:]
    parts = ", ".join(f"{k} {v:,}" for k, v in (("weights", weights), ("gradients", grads), ("optimizer states",
                                                                                               states),
                                                ("kv cache", kv), ("activations", acts)) if v)
    tables = (f"the {len(lazy)} tables a lazy optimizer step updates by rows ({sum(lazy.values()):,} B with their "
              f"optimizer states)")
    emb = graph.info.embedding_parallel
    fields = BUILDERS[graph.meta["model"]].params.model_fields if graph.meta.get("model") in BUILDERS else {}
    if "embedding_parallel" in fields:
        least = -(-need * emb // sum(caps.values()))  # the chips whose memories the whole model's state fills
        more = least > arch.chips
        fix = (f"shard the tables and their optimizer states over more chips with workload.embedding_parallel (now "
               f"{emb}; at least {least} chips' {' and '.join(levels)} for these bytes, more where whole tables do not "
               f"balance" + (f", over more chips than arch.chips={arch.chips}" if more else "") + ")")
    else:
        fix = "use fewer or smaller tables, or more chips"
    if options.offload in OFFLOAD_OPTIMIZER and outer:
        beyond = max(0, weights + grads + acts + kv - caps[main])  # table rows the main memory has no room for
        room = sum(caps[lv] for lv in outer)
        if states + beyond > room:
            held = " and ".join(f"{lv} ({caps[lv]:,} B)" for lv in outer)
            return WorkloadError(
                f"{name}: with options.offload: {options.offload} {' and '.join(outer)} must hold every optimizer state "
                f"({states:,} B) and the table rows {main} has no room for ({beyond:,} B of weights beyond its "
                f"{caps[main]:,} B with the gradients and activations), {states + beyond:,} B, but {held} "
                f"{'hold' if len(outer) > 1 else 'holds'} {room:,} B, {states + beyond - room:,} B short, though {tables} are "
                f"placed by rows; {fix}", ("model",), arch.capacity_key(outer[0]), arch_first=True)
    total = sum(caps.values())
    if need <= total:
        return None
    held = " and ".join(f"{lv} ({caps[lv]:,} B)" for lv in levels)
    spilled = f" (the rows {main} has no room for and their states in {' and '.join(outer)})" if outer else ""
    return WorkloadError(
        f"{name}: a chip needs {need:,} B ({parts}) but {held} {'hold' if len(levels) > 1 else 'holds'} {total:,} B, "
        f"{need - total:,} B short, though {tables} are placed by rows{spilled}; {fix}",
        ("model",), arch.capacity_key(main), arch_first=True)


DP1_NOTE = ("options.distributed_optimizer changes nothing here: it shards the optimizer states over the data-parallel "
            "ranks, and this run has one (arch.chips = tensor_parallel × pipeline_parallel); more chips add ranks")
OVERLAP_DP1_NOTE = ("workload.overlap_grad_reduce changes nothing here: it overlaps the data-parallel gradient all-reduce "
                    "with the backward pass, and this run has one data-parallel rank")


def simulate_pass(graph: Graph, arch: Arch, options: Options, *, name: str | None,
                  workload: WorkloadSpec) -> tuple[Pass, Report]:
    """One pass of a composed scenario: its typed figures and the plain report (whose segment the composed
    report's Chrome trace uses)."""
    graph = stash_as_run(graph, arch)  # (the stash the pass reports is the one run_graph places)
    rep = run_graph(graph, arch, options, name=name, workload=workload_info(graph, workload))
    tg = rep.segments[0][0]
    return Pass.of(live_dict(rep), tg, graph.params, int(graph.info.stashed_activation_bytes),
                   held_bytes(arch, graph, tg), unfused_attention_names(graph, arch)), rep


def refuse_spilled_state(graph: Graph, arch: Arch, tg, options: Options, name: str) -> None:
    """A training step's weights or optimizer states that placement put beyond the main memory without
    ``options.offload: optimizer`` asking for it (the states): a :class:`~.fit.NoFit` with the footprint the main
    memory would need, as a ``gpt`` pipeline stage's that does not fit (one policy: no framework streams a step's
    training state over the host link unless told to). ``offload: optimizer`` is the GPU's step reading and
    writing the fp32 state in host memory over the host link (Adam: 12 B a parameter each way, 24 B in all), not
    ZeRO-Offload, whose Adam steps on the host CPU and which moves 4 B a parameter (16-bit gradients down, 16-bit
    parameters up; Ren et al. 2021): that host-side step is not modelled (probe p117 #2). A dataset the host holds (role ``host``)
    and an embedding table split by its rows that a lazy optimizer step updates row by row (``sparse_rows``: a
    recommender's table, its look-ups' hot rows inside) are placed by design; a table the step updates whole (a
    language model's token embedding, a dense gradient) is a weight like the others, its rows beyond the main
    memory spilled. Every parameter counts once (a tied embedding and head: one tensor)."""
    main = arch.main_memory
    spilled = {"weights": 0, "optimizer_states": 0}
    sizes: dict[str, tuple[int, str]] = {}
    lazy: set[str] = set()  # the tables a lazy optimizer step updates by rows
    for op in graph.ops:
        for w in op.weights:
            if w.name not in sizes:
                sizes[w.name] = (w.nbytes(op.dtype), w.role)
        if op.kind is OpKind.OPTIMIZER and "sparse_rows" in op.attrs and op.weights:
            lazy.add(op.weights[0].name)
    beyond: list[tuple[str, int]] = []  # (tensor, its bytes beyond the main memory)
    for n, (nbytes, role) in sizes.items():
        if role == "host":  # a dataset the host holds (row-split or not): beyond the main memory by design
            continue
        if n in tg.tables and role != "state" and n not in lazy:  # a dense-updated table: its rows beyond main
            out = nbytes - tg.tables[n].bytes_at(nbytes, main)
            spilled["weights"] += out
            beyond += [(n, out)] if out else []
            continue
        if n in tg.tables or tg.placement.get(n, main) == main:
            continue
        if role == "state":
            if options.offload not in OFFLOAD_OPTIMIZER:
                spilled["optimizer_states"] += nbytes
                beyond.append((n, nbytes))
        else:
            spilled["weights"] += nbytes
            beyond.append((n, nbytes))
    if not any(spilled.values()):
        return
    row = dict(footprint(graph, arch, tg)[main])
    for k, b in spilled.items():
        row[k] = row.get(k, 0) + b
    row["used"] = sum(v for k, v in row.items() if k not in ("capacity", "usable", "used", "fraction"))
    if row["used"] <= usable_bytes(row):  # the footprint fits: name what placement put beyond it, not "needs < holds"
        what = ", ".join(f"{n!r} ({b:,} B)" for n, b in beyond[:3]) + (f" and {len(beyond) - 3} more"
                                                                         if len(beyond) > 3 else "")
        raise WorkloadError(f"{name}: placement put training state beyond {main} ({what}) although a chip's {main} "
                            f"holds the whole footprint ({int(row['used']):,} of {int(usable_bytes(row)):,} B); "
                            "training state is not spilled to host memory unless options.offload asks", ("model",))
    raise NoFit(name, "a chip", main, row, main=True, training=True, stash_level=tg.stash_level or main, spill=True)
