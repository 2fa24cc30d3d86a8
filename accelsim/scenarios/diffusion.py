"""A model run as several graphs, each part a number of times: a diffusion pipeline (text encoder once, the
denoiser ``steps`` times, the VAE decoder once), as diffusers' pipelines run it.

The builder names the parts (``BuilderEntry.parts``: ``[(part, count), ...]`` from the validated params); each part
is the workload with ``part`` set to it, built and simulated once (every denoising step is the same graph: the
timestep is an input, not a shape), and the report composes them (:func:`~accelsim.scenarios.sampling.
composed_report`): op rows tagged ``phase`` = the part with ``count`` = its executions, placed one after another
on the run's timeline (a repeated part's rows show its first execution); ``seconds``, cycles, launches and busy
cycles are the parts' sums over their counts; ``params`` the parts' sum; ``memory``, ``placement`` and ``notes`` the
most-run part's (the denoiser's). report.json's ``diffusion`` object: ``batch`` (images), ``parts``
(each part's count, params, cycles and seconds of one execution and all of them), ``seconds_per_image`` and
``images_per_s``.
"""

from __future__ import annotations

from dataclasses import replace

from ..builders.registry import get_builder
from ..config import WorkloadSpec, build_graph
from ..energy import account
from ..hardware import Arch
from ..options import Options
from ..report import Report
from .passes import Rows
from .sampling import Sampled, composed_report
from .single import Progress, simulate_pass


def parts_of(workload: WorkloadSpec) -> list[tuple[str, int]] | None:
    """The ``(part, count)`` list of a workload its builder runs as several graphs, when its ``part`` is the whole
    pipeline (its default); else None (one graph, one part of the pipeline or a model of one graph)."""
    entry = get_builder(workload.model)
    parts = entry.parts
    if parts is None or workload.params.get("part", "pipeline") != "pipeline":
        return None
    return parts(entry.params.model_validate(dict(workload.params)))


def diffusion(workload: WorkloadSpec, arch: Arch, options: Options | None = None, *, name: str | None = None,
              progress: Progress | None = None) -> Report:
    """Each part of ``workload``'s pipeline simulated once and counted its number of times (module docstring)."""
    options = options or Options()
    parts = parts_of(workload)
    assert parts, f"{workload.model} is not a pipeline of parts"
    runs: list[tuple[str, int, Sampled, int]] = []  # part, count, its pass, its graph's params
    segments, offset = [], 0
    for i, (part, count) in enumerate(parts):
        if progress:
            progress(part, i, len(parts))
        graph = build_graph(replace(workload, params={**workload.params, "part": part}), arch.dtype)
        p, rep = simulate_pass(graph, arch, options, name=name, workload=workload)
        if options.trace:
            segments.append((*rep.segments[0][:2], offset))
        del rep
        runs.append((part, count, Sampled.exact(p.without_tasks(), per_op=False), graph.params))
        offset += count * p.timing.cycles
    rows, start = [], 0
    for part, count, s, _ in runs:
        rows.append(Rows(s.shown, [w.times(count) for w in s.work], [count] * len(s.work), {"phase": part},
                         offset=start))
        start += count * s.timing.cycles
    # the descriptive fields (memory footprint, placement, notes) are the most-run part's: the denoiser's
    weighted = sorted(((s, float(count)) for _, count, s, _ in runs), key=lambda sc: -sc[1])
    out = composed_report(weighted, rows, name or f"{workload.model}_{arch.name}")
    out["params"] = sum(params for *_, params in runs)
    out["execution"] = ", ".join(f"{part} {s.shown.report['execution']}" for part, _, s, _ in runs)
    batch = int(workload.params.get("batch", 1))
    seconds = float(out["seconds"])
    out["diffusion"] = {
        "batch": batch,
        "parts": [{"part": part, "count": count, "params": params, "cycles": s.timing.cycles,
                   "seconds": s.timing.seconds, "total_seconds": count * s.timing.seconds}
                  for part, count, s, params in runs],
        "seconds_per_image": seconds / batch,
        "images_per_s": batch / seconds if seconds else None,
    }
    out.update(account(out, arch))  # energy of the composed run (the passes' own were copied)
    return Report(out, segments=segments or None)


__all__ = ["diffusion", "parts_of"]
