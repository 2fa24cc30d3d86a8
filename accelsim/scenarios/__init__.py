"""Scenarios: what a workload runs as, and the simulations that make up its report.

:func:`run_workload` is the one dispatch (the API calls it): a workload with ``decode_steps`` is an LLM serving run
(:mod:`.serving`: a prefill and N decode steps), one whose builder takes ``pipeline_parallel`` a pipeline-parallel
iteration (:mod:`.pipeline`: stages composed by the 1F1B schedule), one its builder runs as several parts a diffusion
pipeline (:mod:`.diffusion`: text encoder, denoiser steps, VAE decoder), anything else one graph simulated once
(:mod:`.single`). Composed scenarios keep each simulated pass as typed figures (:mod:`.passes`), sample similar
passes (:mod:`.sampling`) and build their report dict once, at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from ..builders.recsys import distinct_chips
from ..builders.registry import get_builder
from ..config import WorkloadSpec, build_graph
from ..config.overrides import SET_LABEL
from ..config.schema import given_note, set_rank
from ..config.yamlio import Doc
from ..energy import mark_throttled, package_w_per_chip, throttle_factor
from ..errors import AccelsimError, BudgetError, CapacityError, ConfigError, MappingError, WorkloadError
from ..hardware import Arch
from ..ir import Graph
from ..mapping import data_parallel
from ..mapping.lower import EP_HINT
from ..options import Options
from ..report import Report, live_dict
from .diffusion import diffusion, is_pipeline
from .fit import FOOTPRINT_KEYS, NoFit, explain, fixed_overflow, stage_stash
from .pipeline import pipeline
from .sampling import decode_samples
from .serving import pass_options, serve
from .single import Progress, run_graph, workload_info

Scenario = Literal["single", "serving", "pipeline", "diffusion"]


def scenario_of(workload: WorkloadSpec) -> Scenario:
    """Which scenario ``workload`` runs as: ``serving`` with ``decode_steps`` > 0; ``diffusion`` when its builder
    runs it as several parts and ``part`` is the whole pipeline (:func:`.diffusion.is_pipeline`); ``pipeline`` when its
    builder takes ``pipeline_parallel`` (``gpt``, even with one stage: then the micro-batches run back to back,
    gradient accumulation); else ``single``."""
    if workload.params.get("decode_steps"):
        return "serving"
    if is_pipeline(workload):
        return "diffusion"
    if "pipeline_parallel" in get_builder(workload.model).params.model_fields:
        return "pipeline"
    return "single"


def run_workload(workload: WorkloadSpec, arch: Arch, options: Options | None = None, *, name: str | None = None,
                 progress: Progress | None = None, arch_source: Doc | None = None) -> Report:
    """Build, map, simulate and report ``workload`` on ``arch`` as its scenario (:func:`scenario_of`) asks; with
    ``options.throttle_to_tdp``, a run above the arch's TDP runs again at the clock that meets it (first order).

    ``arch_source`` says where each arch value was written (:attr:`ExperimentSpec.arch_source`): a mapping error
    caused by one arch value (a scratchpad too small for any tiling, memories too small for the workload:
    ``MappingError.arch_key``) is then reported at that key's file and line (as ``arch.KEY`` for an arch given as an
    object or mapping); other mapping errors at the workload's ``model:`` line."""
    try:
        report = _run_scenario(workload, arch, options, name=name, progress=progress)
    except WorkloadError as e:  # a parameter the builder names (a layer's shape, tensor_parallel): at its line,
        # or at the arch value it names too where that was set more recently
        raise _workload_error_at(e, workload, arch_source) from None
    except BudgetError as e:  # refused for options.memory_budget: where it was set (or that it is the default)
        at = getattr(workload, "budget_at", "")
        where = f"{at}: options.memory_budget" if at and not at.startswith("--set") else at or \
            "options.memory_budget (not set: the default)"
        given = workload.overridden() + list(workload.elsewhere) if isinstance(workload, WorkloadSpec) else []
        raise BudgetError(f"{where}: {e}" + given_note(given)) from None
    except MappingError as e:  # the workload does not fit this arch: still a MappingError, at the arch key that
        # caused it, else at the workload's own line, when the spec knows where they were written
        if isinstance(e, CapacityError) and arch_source is not None and isinstance(workload, WorkloadSpec):
            e = _capacity_at(e, workload, arch, arch_source)
        if e.arch_key and arch_source is not None:
            value = _written(arch_source.data, e.arch_key)
            message, quoted = str(e), f" (arch.{'.'.join(e.arch_key)}={value})"
            if value is not None and message.endswith(quoted):  # the issue's "(got VALUE)" gives it, once
                message = message[: -len(quoted)]
            issue = arch_source.issue(e.arch_key, message, *([] if value is None else [value]))
            if value is None and len(e.arch_key) == 1:  # a top-level key left at its default: no line holds it
                issue = replace(issue, line=None)  # (the file's first line would be named otherwise)
            if isinstance(workload, WorkloadSpec) and issue.file != SET_LABEL:  # the other values given on the
                # command line take part (a --set of another level's capacity): named as the workload's error does
                given = _others_given(workload, issue.key)
                if given:
                    issue = replace(issue, msg=issue.msg + given_note(given))
            raise MappingError(str(ConfigError([issue])), e.arch_key) from None
        if e.arch_key:  # an arch given as an object or mapping: its key, as a config error on it names it
            raise MappingError(f"arch.{'.'.join(map(str, e.arch_key))}: {e}", e.arch_key) from None
        if not isinstance(workload, WorkloadSpec):
            raise
        raise MappingError(str(workload.located(WorkloadError(str(e), ("model",)), every=True)),
                           e.arch_key) from None
    factor = throttle_factor(live_dict(report))
    if options is None or not options.throttle_to_tdp or factor >= 1.0:
        return report
    factor = max(factor, 1e-3)
    update: dict[str, object] = {"clock": arch.clock * factor}
    if arch.energy is not None and arch.energy.activity_power_share:  # drawn per cycle as the priced actions are
        update["energy"] = arch.energy.model_copy(
            update={"activity_power_share": arch.energy.activity_power_share * factor})
    slow = arch.model_copy(update=update)
    throttled = _run_scenario(workload, slow, options, name=name, progress=progress)
    mark_throttled(live_dict(throttled), factor, arch.clock, package_w_per_chip(live_dict(report)["power"]))
    return throttled


def _workload_error_at(e: WorkloadError, workload: WorkloadSpec, arch_source: Doc | None) -> Exception:
    """A builder's WorkloadError at the parameter it names (its line in the workload's file), or at the arch value
    it names too (``e.arch_key``) where that was set more recently (``arch.chips`` over ``tensor_parallel``; with
    ``e.arch_first`` also on a tie, and always for the model's line: a capacity the weights and training state
    alone overflow, naming the other values given on the command line)."""
    if e.arch_key and arch_source is not None and isinstance(workload, WorkloadSpec) and e.key:
        arch_key = _room_key(arch_source, [tuple(e.arch_key)])  # or its level's usable_fraction, set after it
        arch_rank, rank = set_rank(arch_source, arch_key), workload.latest([str(e.key[0])])[1]
        if arch_rank > rank or (e.arch_first and (arch_rank >= rank or e.key == ("model",))):
            # a capacity the fixed state overflows is named in the message with its size, not "(got ...)": the
            # value is not wrong, the state is too big for it (docs/training.md)
            value = None if e.arch_first else _written(arch_source.data, arch_key)
            issue = arch_source.issue(arch_key, e.detail, *([] if value is None else [value]))
            given = _others_given(workload, issue.key)
            if e.arch_first and given and issue.file != SET_LABEL:
                issue = replace(issue, msg=issue.msg + given_note(given))
            return ConfigError([issue])
    return workload.located(e) if isinstance(workload, WorkloadSpec) else e


def _others_given(workload: WorkloadSpec, key: str) -> list[str]:
    """The values given on the command line or elsewhere in the experiment (``--set workload.seq_len=128``) but
    ``key``'s own ``--set``: what an error at ``key`` names beside it."""
    return [g for g in (*workload.overridden(), *workload.elsewhere) if not g.startswith(f"{SET_LABEL} {key}=")]


def _room_key(arch_source: Doc, keys: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
    """Of the arch ``keys`` at fault, the one set most recently (a tie: the first), where each level's capacity
    stands beside its ``usable_fraction``, which sizes the level's room as much (usable = capacity × it); a tie
    keeps the capacity, so a preset's own usable_fraction is not named over its capacity. Probe p249 #4: ``--set
    arch.host.usable_fraction=0.0001`` was blamed on a ``--set workload.seq_len=128``, ``--set
    arch.hbm.usable_fraction=0.001`` on the preset's ``hbm.capacity`` line."""
    candidates = [k for cap in keys
                  for k in ((cap, (*cap[:-1], "usable_fraction")) if cap[-1:] == ("capacity",) else (cap,))]
    return max(candidates, key=lambda k: set_rank(arch_source, k))


def _capacity_at(e: CapacityError, workload: WorkloadSpec, arch: Arch, arch_source: Doc) -> MappingError:
    """Memories too small for a pass, at the key set last (docs/configuration.md): of the capacities at fault and
    their levels' ``usable_fraction`` (:func:`_room_key`) the one set most recently (a tie: the first, the main
    memory's capacity), unless a workload key that sizes the footprint was set more recently still; then raised there, naming the other values given on the command line. A key sizes the
    footprint when it is one of :data:`.fit.FOOTPRINT_KEYS` (``--set workload.kv_len=5000000`` over a preset's
    ``hbm.capacity``, ``m`` in the user's file over a preset's), or any other the graph built with that key at its
    builder default holds fewer bytes for (:func:`_sized_by`: gpt's ``ffn``, an hf model's ``hidden_size``). Where
    the weights alone overflow the memories (``e.fixed`` > ``e.room``) the key must be one whose value they follow
    and whose default would make them fit (``--set workload.image_size=100000``: LeNet-5's fc1 follows it; probe
    p132 #3); with none such (a ``kv_len``, a ``batch`` beside weights too big at any value) it is at the capacity,
    and the message says what they need."""
    arch_key = _room_key(arch_source, e.arch_keys)
    over = fixed_overflow(e.fixed, e.room)
    message = f"{e}{over}"
    if workload.source is None:
        return MappingError(message, arch_key)
    held = set_rank(arch_source, arch_key)
    later = [k for k in (*FOOTPRINT_KEYS, *(k for k in workload.params if k not in FOOTPRINT_KEYS))
             if k in workload.params and set_rank(workload.source, (k,)) > held]
    if over:  # the weights: a key whose own value makes them overflow, by a rebuild at its default
        keys = [k for k in later if _sized_by(workload, arch, k, e)]
    else:  # the listed size keys (a batch above 1), or another the footprint follows
        keys = [k for k in later if (k in FOOTPRINT_KEYS and (k != "batch" or int(workload.params[k]) > 1))
                or _sized_by(workload, arch, k)]
    if not keys:
        return MappingError(message, arch_key)
    key, _ = workload.latest(keys)
    issue = workload.source.issue((key,), message, workload.params[key])
    given = _others_given(workload, issue.key)
    if given:
        issue = replace(issue, msg=issue.msg + given_note(given))
    raise MappingError(str(ConfigError([issue])), arch_key) from None


def _sized_by(workload: WorkloadSpec, arch: Arch, key: str, e: CapacityError | None = None) -> bool:
    """Whether ``workload``'s value of ``key`` is what makes its footprint too big: the graph built with ``key`` at
    its builder default (one of no default, equal to the value, or that the builder refuses: never) holds fewer
    bytes. With ``e`` the bytes are the weights', and they must fit at the default: ``e.fixed``, scaled as the
    built graph's weights scale (a pass may hold a share of them: a pipeline stage's), at most ``e.room``; without,
    the weights and every activation tensor (:attr:`Graph.activation_bytes`)."""
    spec = get_builder(workload.model).params.model_fields.get(key)
    if spec is None or spec.is_required():
        return False
    default = spec.get_default(call_default_factory=True)
    if default == workload.params[key]:
        return False

    def size(params: dict) -> int:
        graph = build_graph(replace(workload, params=params), arch.dtype)
        return graph.weight_bytes + (0 if e is not None else graph.activation_bytes)

    try:
        now, then = size(workload.params), size({**workload.params, key: default})
    except (AccelsimError, ValueError):  # the default does not go with the other values: not this key's doing
        return False
    return then < now and (e is None or e.fixed * then <= e.room * now)


def _written(data: object, key: tuple[str, ...]) -> object:
    """The value at ``key`` of an arch document as written (``"100KiB"``), or None where it holds none."""
    for k in key:
        if not isinstance(data, dict) or k not in data:
            return None
        data = data[k]
    return data


def _run_scenario(workload: WorkloadSpec, arch: Arch, options: Options | None, *, name: str | None,
                  progress: Progress | None) -> Report:
    report = _run_kind(workload, arch, options, name=name, progress=progress)
    opts = options or Options()
    report.plots, report.trace = opts.plots, opts.trace  # what Report.save writes unless told otherwise
    return report


PARALLEL_KEYS = ("tensor_parallel", "context_parallel", "expert_parallel", "pipeline_parallel", "embedding_parallel")
# Megatron's rank order: tensor, context, expert (beside the tensor-parallel chips), data, pipeline; then DLRM's
# embedding_parallel, the chips its tables are sharded over (the data-parallel chips: its builder takes no other
# degree), so its error names that key, not the workload's model: line (probe p88 #7)


def _check_parallel_chips(workload: WorkloadSpec, arch: Arch) -> None:
    """A workload whose parallel keys take more chips than the arch has: a WorkloadError at the key set most
    recently (``tensor_parallel`` from a --set, not the workload file's ``model:`` line), or at ``arch.chips``
    where that was set more recently (:func:`run_workload`). The product and the message count only the parallel
    degrees the model's builder takes (an hf MoE's ``expert_parallel``; ``pipeline_parallel`` for ``gpt`` alone)."""
    takes = [k for k in PARALLEL_KEYS if k in get_builder(workload.model).params.model_fields]
    given = {k: int(workload.params[k]) for k in takes if isinstance(workload.params.get(k), int)}
    need = math.prod(given.values())
    emb = given.get("embedding_parallel", 1)
    if need <= arch.chips and emb > 1 and workload.params.get("mode") == "training" and arch.chips % emb:
        # each group of embedding_parallel chips holds every table once, a table's gradient reduced over the groups
        # (mapping/lower.py, which would say it at the model: line)
        raise WorkloadError(f"{workload.model}: embedding_parallel ({emb}) must divide the data-parallel chips in "
                            f"training (arch {arch.name!r} has arch.chips={arch.chips}), which it splits into groups "
                            f"each holding every table once", ("embedding_parallel",), arch_key=("chips",))
    if need <= arch.chips or need <= 1:
        return
    key = _set_last(workload, [k for k in takes if given.get(k, 1) > 1])
    # said as the pipeline scenario says it: tensor_parallel always, pipeline_parallel where the model takes it
    shown = [k for k in takes if given.get(k, 1) > 1 or k in ("tensor_parallel", "pipeline_parallel")]
    across = " × ".join(shown) + (" = " + " × ".join(str(given.get(k, 1)) for k in shown) if len(shown) > 1 else "")
    beside = EP_HINT if given.get("expert_parallel", 1) > 1 and given.get("tensor_parallel", 1) > 1 else ""
    name = workload.params.get("name") or workload.model  # hf: the model's own name (mixtral_8x7b), not 'hf'
    raise WorkloadError(f"{name}: {across} = {need} chips{beside}, but arch {arch.name!r} has arch.chips="
                        f"{arch.chips} (set arch.chips ≥ {need}, or fewer parallel chips)", (key,),
                        arch_key=("chips",))


def _check_split(workload: WorkloadSpec, arch: Arch) -> None:
    """A workload the arch's chips cannot split, where its builder's params say why (``split_error(chips, dtype)``: the
    ``collective`` micro-workload's per-rank count, probe p158 #1): a WorkloadError at its key, or at ``arch.chips``
    where that was set more recently."""
    params = get_builder(workload.model).params
    if not hasattr(params, "split_error"):
        return
    error = params.model_validate(workload.params).split_error(arch.chips, arch.dtype)
    if error is not None:
        raise error


def _set_last(workload: WorkloadSpec, keys: list[str]) -> str:
    """Of ``keys``, the one set most recently (:meth:`WorkloadSpec.latest`), and of several given by --set the one
    written last on the command line (``--set workload.tensor_parallel=2 --set workload.expert_parallel=8``:
    expert_parallel), where :meth:`~WorkloadSpec.latest` would keep the first listed."""
    key, rank = workload.latest(keys)
    if workload.source is None or rank < 3:  # 3: a --set (or a sweep axis) (:func:`set_rank`)
        return key
    order = [path[0] for path, w in workload.source.where.items() if w.file == SET_LABEL and len(path) == 1]
    tied = [k for k in keys if k in order and set_rank(workload.source, (k,)) == rank]
    return max(tied, key=order.index, default=key)


def _run_kind(workload: WorkloadSpec, arch: Arch, options: Options | None, *, name: str | None,
              progress: Progress | None) -> Report:
    kind = scenario_of(workload)
    if kind != "serving" and workload.params.get("phase") == "decode":  # execution auto: a decode step runs as a
        options = pass_options(options or Options(), "decode")  # CUDA graph, as served (also a gpt's, a pipeline)
    if kind != "pipeline":  # (the pipeline scenario says it with its stages)
        _check_parallel_chips(workload, arch)
    _check_split(workload, arch)
    if kind == "serving":
        if workload.params.get("mode") == "training":  # its passes would be training steps of one decode token
            raise WorkloadError("mode: training takes no decode_steps (a training step runs the forward and "
                                "backward over the whole sequence; decode steps are inference)", ("decode_steps",))
        return serve(workload, arch, options, name=name, progress=progress)
    if kind == "pipeline":
        return pipeline(workload, arch, options, name=name, progress=progress)
    if kind == "diffusion":
        return diffusion(workload, arch, options, name=name, progress=progress)
    if progress:
        progress("building", 0, 1)
    graph = build_graph(workload, arch.dtype)
    reports: list[tuple[int, Report]] = []
    for chip, g in _chip_graphs(graph, workload, arch):
        try:
            reports.append((chip, run_graph(g, arch, options, name=name or f"{g.name}_{arch.name}",
                                            workload=workload_info(g, workload), progress=progress)))
        except NoFit as e:  # at the key the user set last, with the remedies that fit (their stash rebuilt)
            takes = "recompute" in get_builder(workload.model).params.model_fields
            raise explain(e, workload, arch, options or Options(), data_parallel(g, arch),
                          stage_stash(workload, arch, workload.params) if takes else None) from None
    if len(reports) == 1:
        return reports[0][1]
    return _slowest_chip(reports)


def _chip_graphs(graph: Graph, workload: WorkloadSpec, arch: Arch) -> list[tuple[int, Graph]]:
    """The graphs a run simulates: ``graph`` alone, or, for a table-wise sharded DLRM (graph meta
    ``embedding_shards``) whose workload names no ``simulated_chip``, one graph for each distinct chip
    (:func:`~..builders.recsys.distinct_chips`: chips holding the same tables' rows are simulated once), the
    builder's chip (the most look-ups) first. The chips differ once a chip's tables spill beyond the main memory:
    its look-ups and lazy steps then cross the host link, and every chip waits for it at the all-to-all (probe
    p112 #1). Row-wise, chip 0 holds the largest blocks and serves the most look-ups: it alone is simulated."""
    info = graph.meta.get("embedding_shards")
    if not isinstance(info, dict) or info.get("sharding") != "table" or \
            workload.params.get("simulated_chip") is not None:
        return [(0, graph)]
    rows = list(graph.meta["table_rows"])  # type: ignore[call-overload]
    shards = [s["tables"] for s in info["shards"]]
    first = int(info["simulated_chip"])
    chips = distinct_chips(shards, rows, first)
    return [(first, graph)] + [(c, build_graph(replace(workload, params={**workload.params, "simulated_chip": c}),
                                               arch.dtype)) for c in chips[1:]]


def _slowest_chip(reports: list[tuple[int, Report]]) -> Report:
    """Of a sharded DLRM's chips' reports (the builder's chip first), the slowest pass's (ties: the first), with a
    note naming every simulated chip's time: the group's all-to-all waits for every chip's look-ups, and its
    step ends when the last chip's lazy steps do, so the slowest chip's pass is the group's."""
    chip, report = max(reports, key=lambda r: int(live_dict(r[1])["total_cycles"]))  # (the first of equals)
    data = live_dict(report)
    times = ", ".join(f"chip {c} {float(live_dict(r)['seconds']) * 1e6:,.1f} µs" for c, r in
                      sorted(reports, key=lambda r: r[0]))
    data["notes"] = [*data.get("notes", []),
                     f"embedding_parallel: each distinct chip was simulated (chips holding the same tables' rows "
                     f"once: {times}); the time is chip {chip}'s, the slowest: every chip waits for the others' "
                     f"look-ups at the all-to-all (a chip whose tables spill beyond the main memory looks their rows "
                     f"up, and in training steps them, over the slower link); report.json's memory and ops are chip "
                     f"{chip}'s"]
    return report


__all__ = ["Progress", "Scenario", "decode_samples", "diffusion", "pipeline", "run_graph", "run_workload", "scenario_of", "serve"]
