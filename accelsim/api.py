"""The Python API: ``simulate(workload, arch, **options) -> Report``, as five plain calls read top to bottom.

    spec   = config.load_experiment(path)            # 1. files → validated, typed values
    graph  = config.build_graph(spec.workload, dtype)  # 2. workload → op graph (builders)
    tg     = mapping.lower(graph, arch, options)     # 3. op graph + arch → task graph
    trace  = engine.simulate(tg)                     # 4. task graph → trace (SimPy)
    report = build_report(graph, arch, tg, trace)    # 5. trace → report
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from . import __version__
from .config import ExperimentSpec, WorkloadSpec, build_graph, load_arch, load_experiment, load_workload
from .engine import simulate as run_engine
from .hardware import Arch
from .ir import Graph
from .mapping import lower
from .options import Options
from .report import Report, build_report

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
    return Report(data, taskgraph=tg, trace=trace)


def run_experiment(spec: ExperimentSpec, progress: Progress | None = None) -> Report:
    """Build, map, simulate and report a loaded experiment."""
    if progress:
        progress("building", 0, 1)
    graph = build_graph(spec.workload, spec.arch.dtype)
    return run(graph, spec.arch, spec.options, name=spec.name, workload=_workload_info(graph, spec.workload),
               progress=progress)


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
    graph = build_graph(workload, arch.dtype)
    return run(graph, arch, opts, name=name or f"{graph.name}_{arch.name}", workload=_workload_info(graph, workload))


__all__ = ["simulate", "run", "run_experiment", "build_graph", "load_experiment", "Report"]
