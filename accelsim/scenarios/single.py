"""One graph, one simulation: map, simulate and report (the plain scenario, and each pass of the others)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .. import __version__
from ..builders.registry import BUILDERS
from ..builders.training import shard_optimizer, union_sparse_steps
from ..config import WorkloadSpec
from ..engine import simulate as run_engine
from ..errors import CapacityError, ConfigError, WorkloadError
from ..hardware import Arch
from ..ir import Graph, OpKind
from ..mapping import data_parallel, lower
from ..options import DISTRIBUTED_OPTIMIZER_TRAINING_ONLY, OFFLOAD_TRAINING_ONLY, Options
from ..report import Report, build_report, live_dict
from ..report.summary import footprint, held_bytes, unfused_attention_names
from .fit import NoFit
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


def run_graph(graph: Graph, arch: Arch, options: Options | None = None, *, name: str | None = None,
              workload: Mapping[str, object] | None = None, progress: Progress | None = None) -> Report:
    """Map, simulate and report an already-built ``graph`` on ``arch``."""
    options = options or Options()
    if options.offload != "none" and graph.info.mode != "training":  # what the config layer refuses at its line
        raise ConfigError.one(None, "options.offload", OFFLOAD_TRAINING_ONLY, value=options.offload)
    if options.distributed_optimizer and graph.info.mode != "training":
        raise ConfigError.one(None, "options.distributed_optimizer", DISTRIBUTED_OPTIMIZER_TRAINING_ONLY, value=True)
    notes = []
    # the workload's overlap_grad_reduce as set (gpt's; GraphInfo's default, True, is every other model's DDP)
    overlap = graph.meta.get("overlap_grad_reduce") is True
    if graph.info.mode == "training" and (options.distributed_optimizer or overlap
                                          or any("sparse_rows" in op.attrs for op in graph.ops)):
        dp = data_parallel(graph, arch)
        # every replica's lazy step on a sparse table updates the rows the group's all-gathered gradients hold
        graph = union_sparse_steps(graph, dp)
        if options.distributed_optimizer:
            notes += [DP1_NOTE] if dp == 1 else []
            graph = shard_optimizer(graph, dp)  # each data-parallel rank's share of the states
        if overlap and dp == 1:  # (probe p93 #5)
            notes.append(OVERLAP_DP1_NOTE)
    if progress:
        progress("mapping", 0, 1)
    try:
        tg = lower(graph, arch, options)
    except CapacityError as e:
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


DP1_NOTE = ("options.distributed_optimizer changes nothing here: it shards the optimizer states over the data-parallel "
            "ranks, and this run has one (arch.chips = tensor_parallel × pipeline_parallel); more chips add ranks")
OVERLAP_DP1_NOTE = ("workload.overlap_grad_reduce changes nothing here: it overlaps the data-parallel gradient all-reduce "
                    "with the backward pass, and this run has one data-parallel rank")


def simulate_pass(graph: Graph, arch: Arch, options: Options, *, name: str | None,
                  workload: WorkloadSpec) -> tuple[Pass, Report]:
    """One pass of a composed scenario: its typed figures and the plain report (whose segment the composed
    report's Chrome trace uses)."""
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
            if options.offload != "optimizer":
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
    row["used"] = sum(v for k, v in row.items() if k not in ("capacity", "used", "fraction"))
    if row["used"] <= row["capacity"]:  # the footprint fits: name what placement put beyond it, not "needs < holds"
        what = ", ".join(f"{n!r} ({b:,} B)" for n, b in beyond[:3]) + (f" and {len(beyond) - 3} more"
                                                                         if len(beyond) > 3 else "")
        raise WorkloadError(f"{name}: placement put training state beyond {main} ({what}) although a chip's {main} "
                            f"holds the whole footprint ({int(row['used']):,} of {int(row['capacity']):,} B); "
                            "training state is not spilled to host memory unless options.offload asks", ("model",))
    raise NoFit(name, "a chip", main, row, main=True, training=True, stash_level=tg.stash_level or main, spill=True)
