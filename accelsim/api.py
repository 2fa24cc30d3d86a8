"""The Python API: ``simulate(workload, arch, **options) -> Report``, as five plain calls read top to bottom.

    spec   = config.load_experiment(path)            # 1. files → validated, typed values
    graph  = config.build_graph(spec.workload, dtype)  # 2. workload → op graph (builders)
    tg     = mapping.lower(graph, arch, options)     # 3. op graph + arch → task graph
    trace  = engine.simulate(tg)                     # 4. task graph → trace (SimPy)
    report = build_report(graph, arch, tg, trace)    # 5. trace → report
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from . import __version__
from .builders.registry import get_builder
from .config import ExperimentSpec, WorkloadSpec, build_graph, load_arch, load_experiment, load_workload
from .engine import simulate as run_engine
from .errors import WorkloadError
from .hardware import Arch
from .ir import Graph
from .mapping import lower
from .options import Options
from .report import Report, build_report
from .report.pipeline import affine_report, combine_pipeline
from .report.serving import combine_passes
from .units import dtype_bytes

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def _workload_info(graph: Graph, workload: WorkloadSpec) -> dict[str, object]:
    """What report.json says about the workload."""
    return {"name": graph.name, "model": workload.model, "params": dict(workload.params),
            "batch": graph.meta.get("batch"), "dtype": graph.meta.get("dtype")}


def run(graph: Graph, arch: Arch, options: Options | None = None, *, name: str | None = None,
        workload: Mapping[str, object] | None = None, progress: Progress | None = None) -> Report:
    """Map, simulate and report an already-built ``graph`` on ``arch``."""
    options = options or Options()
    if progress:
        progress("mapping", 0, 1)
    tg = lower(graph, arch, options)
    if progress:
        progress("simulating", 0, len(tg))
        trace = run_engine(tg, lambda done, total: progress("simulating", done, total))
    else:
        trace = run_engine(tg)
    info = dict(workload) if workload is not None else {"name": graph.name, **graph.meta}
    data = build_report(graph, arch, tg, trace, name=name or f"{graph.name}_{arch.name}", workload=info,
                        version=__version__)
    return Report(data, segments=[(tg, trace, 0)])


def run_experiment(spec: ExperimentSpec, progress: Progress | None = None) -> Report:
    """Build, map, simulate and report a loaded experiment (a serving run when it asks for decode steps)."""
    if spec.workload.params.get("decode_steps"):
        return serve(spec.workload, spec.arch, spec.options, name=spec.name, progress=progress)
    if _pipelined(spec.workload):
        return pipeline(spec.workload, spec.arch, spec.options, name=spec.name, progress=progress)
    if progress:
        progress("building", 0, 1)
    graph = build_graph(spec.workload, spec.arch.dtype)
    return run(graph, spec.arch, spec.options, name=spec.name, workload=_workload_info(graph, spec.workload),
               progress=progress)


def decode_samples(steps: int, budget: int) -> list[int]:
    """The decode steps simulated exactly: all of them when ``budget`` is 0 or ≥ ``steps``, else ``budget``
    steps spread evenly from the first to the last (the others are interpolated)."""
    if budget <= 0 or steps <= budget:
        return list(range(steps))
    if budget == 1:
        return [steps - 1]
    return sorted({round(i * (steps - 1) / (budget - 1)) for i in range(budget)})


def serve(workload: WorkloadSpec, arch: Arch, options: Options | None = None, *, name: str | None = None,
          progress: Progress | None = None) -> Report:
    """An LLM serving run: the prefill (when ``phase`` is prefill) then ``decode_steps`` decode steps, the KV
    cache one token longer each step, batch sequences in lock-step; see :mod:`accelsim.report.serving`.

    With more decode steps than ``options.decode_samples``, that many steps (evenly spread, first and last
    included) are simulated and the cycles of the others are interpolated linearly in the KV length between
    their simulated neighbours; the report says which steps were simulated.
    """
    options = options or Options()
    params = dict(workload.params)
    steps = int(params.get("decode_steps") or 0)
    passes: list[tuple[str, int, WorkloadSpec]] = []
    if params.get("phase", "prefill") == "prefill":
        passes.append(("prefill", 0, replace(workload, params={**params, "decode_steps": 0})))
        start_kv = int(params["seq_len"])
    else:
        start_kv = int(params["kv_len"])
    sampled = decode_samples(steps, options.decode_samples)
    for i in sampled:
        passes.append(("decode", i, replace(workload, params={**params, "phase": "decode", "kv_len": start_kv + i,
                                                                  "decode_steps": 0})))
    results, segments, offset = [], [], 0
    graph = None
    for n, (phase, step, spec) in enumerate(passes):
        if progress:
            progress(f"{phase} step {step}" if phase == "decode" else phase, n, len(passes))
        graph = build_graph(spec, arch.dtype)
        rep = run(graph, arch, options, name=name, workload=_workload_info(graph, workload))
        results.append((phase, step, rep.to_dict()))
        segments.append((*rep.segments[0][:2], offset))
        offset += rep.total_cycles
    footprint = {"kv_cache_bytes": int(graph.meta.get("kv_cache_bytes", 0)), "weight_bytes": graph.weight_bytes,
                 "memory": results[-1][2]["memory"]}
    data = combine_passes(results, steps=steps, batch=int(params.get("batch", 1)), footprint=footprint,
                          name=name or f"{workload.model}_{arch.name}")
    return Report(data, segments=segments)


def _pipelined(workload: WorkloadSpec) -> bool:
    """Whether ``workload`` runs through the pipeline driver: its builder takes ``pipeline_parallel`` (``gpt``),
    even with one stage (then the micro-batches run back to back: gradient accumulation)."""
    return "pipeline_parallel" in get_builder(workload.model).params.model_fields


def pipeline(workload: WorkloadSpec, arch: Arch, options: Options | None = None, *, name: str | None = None,
             progress: Progress | None = None) -> Report:
    """A pipeline-parallel iteration: every distinct stage (first, one middle, last) simulated for one
    micro-batch on one chip, composed by the 1F1B schedule (see :mod:`accelsim.report.pipeline`)."""
    options = options or Options()
    params = dict(workload.params)
    pp = int(params.get("pipeline_parallel", 1))
    tp = int(params.get("tensor_parallel", 1))
    if arch.chips < tp * pp:
        raise WorkloadError(f"{workload.model}: tensor_parallel × pipeline_parallel = {tp} × {pp} = {tp * pp} "
                            f"chips, but arch {arch.name!r} has chips={arch.chips} (set arch chips)")
    distinct = sorted({0, min(1, pp - 1), pp - 1})
    per_stage = int(params["layers"]) // pp
    samples = [1, 2] if options.layer_samples and per_stage > 2 else [per_stage]
    reports: dict[int, dict] = {}
    segments, offset, graph = [], 0, None
    done = 0
    simulation = {"tasks": 0, "events": 0, "passes": 0}
    for k in distinct:
        sampled = []
        for n in samples:
            if progress:
                progress(f"pipeline stage {k}" + (f" ({n} of {per_stage} layers)" if n != per_stage else ""), done,
                         len(distinct) * len(samples))
            # a stage of n layers: the same stage of a model with n layers per stage
            stage = {**params, "pipeline_stage": k, "layers": n * pp, "pipeline_interleave": 1}
            graph = build_graph(replace(workload, params=stage), arch.dtype)
            rep = run(graph, arch, options, name=name, workload=_workload_info(graph, workload))
            sampled.append(rep.to_dict())
            for key in ("tasks", "events"):
                simulation[key] += sampled[-1]["simulation"][key]
            simulation["passes"] += 1
            segments.append((*rep.segments[0][:2], offset))
            offset += rep.total_cycles
            done += 1
        reports[k] = sampled[0] if len(sampled) == 1 else affine_report(sampled[0], sampled[1], per_stage)
    stages = [(k, reports[k if k in reports else 1]) for k in range(pp)]
    v = int(params.get("pipeline_interleave", 1))
    training = params.get("mode") == "training"
    send = int(params.get("batch", 1)) * int(params["seq_len"]) * int(params["hidden"]) * dtype_bytes(
        graph.meta.get("dtype") or arch.dtype) / tp
    p2p_s = arch.interconnect.send_seconds(send) if arch.interconnect is not None else 0.0  # none: one chip, P = 1
    data = combine_pipeline(stages, micro_batches=int(params.get("micro_batches", 1)), interleave=v,
                            p2p_cycles=p2p_s * arch.clock_hz, p2p_count=(2 if training else 1) * (pp * v - 1),
                            name=name or f"{workload.model}_{arch.name}", simulation=simulation)
    data["workload"] = {**data["workload"], "params": dict(workload.params)}
    return Report(data, segments=segments)


def simulate(workload: str | Path | WorkloadSpec | Graph, arch: str | Path | Arch,
             options: Options | Mapping[str, object] | None = None, *, name: str | None = None,
             **option_values: object) -> Report:
    """Simulate ``workload`` on ``arch``; each is a preset name, a YAML path or an object.

    Options come as an :class:`Options`, a mapping, or keyword arguments (``fold_batchnorm=False``).
    """
    if not isinstance(arch, Arch):
        arch = load_arch(str(arch))
    opts = options if isinstance(options, Options) else Options(**{**dict(options or {}), **option_values})
    if isinstance(workload, Graph):
        return run(workload, arch, opts, name=name)
    if not isinstance(workload, WorkloadSpec):
        workload = load_workload(str(workload))
    if workload.params.get("decode_steps"):
        return serve(workload, arch, opts, name=name)
    if _pipelined(workload):
        return pipeline(workload, arch, opts, name=name)
    graph = build_graph(workload, arch.dtype)
    return run(graph, arch, opts, name=name or f"{graph.name}_{arch.name}", workload=_workload_info(graph, workload))


__all__ = ["simulate", "run", "run_experiment", "serve", "pipeline", "build_graph", "load_experiment", "Report"]
