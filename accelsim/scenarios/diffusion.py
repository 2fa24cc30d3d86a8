"""A model run as several graphs, each part a number of times: a diffusion pipeline (text encoder once, the
denoiser ``steps`` times, the VAE decoder once), as diffusers' pipelines run it.

The builder names the parts (``BuilderEntry.parts``: ``[(part, count), ...]`` from the validated params); each part
is the workload with ``part`` set to it, built and simulated once (every denoising step is the same graph: the
timestep is an input, not a shape), and the report composes them (:func:`~accelsim.scenarios.sampling.
composed_report`): op rows tagged ``phase`` = the part with ``count`` = its executions, placed one after another
on the run's timeline (a repeated part's rows show its first execution's start and end cycles and hold the work and
bytes of all its executions; ops.csv's ``duration_cycles`` is ``count`` of them, :func:`~accelsim.report.writers.
write_ops_csv`); ``seconds``, cycles, launches and busy
cycles are the parts' sums over their counts; ``params`` the parts' sum; ``memory`` every part's weights held
together beside the largest part's activations (:func:`footprint`); ``notes`` every part's but their ``chips:`` lines, one composed line instead (:func:`chips_notes`), those quoting a part's figures as the run's and those counting a part's ops naming the part (:func:`~accelsim.scenarios.sampling.pass_name`, :func:`counted`), the causal-attention computed-work line the run's own (:func:`~accelsim.report.summary.recomputed_work_notes`); ``power.peak_w`` the
busiest part's; ``efficiency.j_per_inference`` chip 0's energy times the tensor-parallel group less what its other chips do not spend while chip 0 runs a one-chip part (they idle at static power: :func:`~accelsim.energy.model.account`'s ``spread``); ``placement`` the most-run part's (the denoiser's). report.json's ``diffusion`` object: ``batch`` (images), ``parts``
(each part's count, params, cycles and seconds of one execution and all of them), ``seconds_per_image`` and
``images_per_s``.
"""

from __future__ import annotations

import re
from dataclasses import replace

from pydantic import ValidationError

from ..builders.registry import get_builder
from ..builders.sd import refuse_unread
from ..config import WorkloadSpec, build_graph
from ..energy import account
from ..errors import WorkloadError
from ..hardware import Arch, usable_bytes
from ..options import Options, recorded
from ..report import Report
from ..report.summary import pass_notes, reattention_notes, recomputed_work_notes, recustom_notes, relaunch_notes
from .passes import Kept, Rows, keep_less
from .sampling import Sampled, composed_report, pass_name
from .single import Progress, simulate_pass


def is_pipeline(workload: WorkloadSpec) -> bool:
    """Whether ``workload``'s builder runs it as several graphs and its ``part`` is the whole pipeline (its
    default), not one part of it. A part asked for alone refuses a non-default value of a pipeline key it does not
    read (:func:`~accelsim.builders.sd.refuse_unread`: ``steps`` on ``part: unet``), a WorkloadError at that key."""
    entry = get_builder(workload.model)
    if not entry.parts_ref:
        return False
    if workload.params.get("part", "pipeline") == "pipeline":
        return True
    try:
        p = entry.params.model_validate(dict(workload.params))
    except ValidationError:  # the build reports it, at its key
        return False
    try:
        refuse_unread(p)
    except WorkloadError as e:  # at its line (info asks too, outside run's handler that places a build's errors)
        raise workload.located(e) if isinstance(workload, WorkloadSpec) else e from None
    return False


def parts_of(workload: WorkloadSpec) -> list[tuple[str, int]] | None:
    """The ``(part, count)`` list of a pipeline workload (:func:`is_pipeline`); else None (one graph)."""
    if not is_pipeline(workload):
        return None
    entry = get_builder(workload.model)
    return entry.parts(entry.params.model_validate(dict(workload.params)))  # type: ignore[misc]


def diffusion(workload: WorkloadSpec, arch: Arch, options: Options | None = None, *, name: str | None = None,
              progress: Progress | None = None) -> Report:
    """Each part of ``workload``'s pipeline simulated once and counted its number of times (module docstring)."""
    options = options or Options()
    parts = parts_of(workload)
    assert parts, f"{workload.model} is not a pipeline of parts"
    runs: list[tuple[str, int, Sampled, int]] = []  # part, count, its pass, its graph's params
    rows: list[Rows] = []  # each part's op rows, one part after another on the run's timeline
    segments, offset = [], 0
    kept = Kept(options, keep_less(options))
    spread: dict[str, int] = {}  # each part's chips: its tensor_parallel group (1: one chip)
    for i, (part, count) in enumerate(parts):
        if progress:
            progress(part, i, len(parts))
        graph = build_graph(replace(workload, params={**workload.params, "part": part}), arch.dtype)
        p, rep = simulate_pass(graph, arch, options, name=name, workload=workload)
        spread[part] = graph.info.tensor_parallel * graph.info.context_parallel * graph.info.pipeline_parallel
        if options.trace:
            segments.append((*rep.segments[0][:2], offset, part if count == 1 else f"{part} (1 of {count})"))
        del rep
        s = Sampled.exact(p.without_tasks(), per_op=False)
        kept.keep(s.runs, what=f"the {part}")
        # a tensor-parallel shard's params are one chip's: the part's are its whole model's (meta model_params)
        runs.append((part, count, s, int(graph.meta.get("model_params") or graph.params)))
        rows.append(Rows(s.shown, [w.times(count) for w in s.work], [count] * len(s.work), {"phase": part},
                         offset=offset))
        offset += count * p.timing.cycles
    # the descriptive fields (placement, levels) are the most-run part's, the denoiser's (of equal counts, the
    # part with the most parameters: one step's UNet before the text encoder)
    order = sorted(runs, key=lambda r: (-r[1], -r[3]))
    weighted = [(s, float(count)) for _, count, s, _ in order]
    out = composed_report(weighted, rows, name or f"{workload.model}_{arch.name}")
    out["workload"] = {**out["workload"], "name": workload.model}
    out["params"] = sum(params for *_, params in runs)
    if "params_per_chip" in out:  # chip 0 holds every part's weights (its shard of a tensor-parallel part): their sum,
        # as memory's weights count them, not the largest part's (probe p102 #3: FLUX.1 TP 8 4.885 B, the encoders')
        out["params_per_chip"] = sum(s.timing.params for _, _, s, _ in runs)
    out["execution"] = ", ".join(f"{part} {s.shown.report['execution']}" for part, _, s, _ in runs)
    out["options"] = recorded(options)
    seconds = float(out["seconds"])
    modes = [(part, s.shown.report["execution"], count * s.timing.launch_s / seconds if seconds else 0.0)
             for part, count, s, _ in runs]
    # a part's own chips note quotes that part's figures as the run's (the VAE's one-chip utilisation): one note
    # for the composed run instead (probe p84 #1)
    # and a part's notes that quote its figures as the run's name the part (probe p86 #2)
    # and a part's op counts name the part (probe p191 #1: three "N op(s) of dtype fp8" lines, none saying whose)
    parts_notes = [counted(n, s, part, count) for part, count, s, _ in runs
                   for n in pass_notes(s.shown.report.get("notes", []), pass_name(s, part)) if not n.startswith("chips: ")]
    out["notes"] = reattention_notes(relaunch_notes(
        [*dict.fromkeys(parts_notes), *chips_notes(arch, spread, float(out["mac_utilization"]))], arch,
        float(out["launch_bound_fraction"]), modes), out["ops"], {part: s.shown.attention for part, _, s, _ in runs},
        float(out["total_cycles"]), modes)
    out["notes"] = recustom_notes(out["notes"], arch, out["ops"], float(out["total_cycles"]))
    # the run's computed FLOPs and rate, not one part's (probe p191 #1: sdxl fp8's note quoted the text encoder's
    # 111.2 GFLOPs at 9.858 TFLOP/s, the run 417.7 TFLOPs at 356.7)
    out["notes"] = recomputed_work_notes(out["notes"], out)
    footprint(out, [s.timing.memory for _, _, s, _ in runs])
    batch = int(workload.params.get("batch", 1))
    out["diffusion"] = {
        "batch": batch,
        "parts": [{"part": part, "count": count, "params": params, "cycles": s.timing.cycles,
                   "seconds": s.timing.seconds, "total_seconds": count * s.timing.seconds}
                  for part, count, s, params in runs],
        "seconds_per_image": seconds / batch,
        "images_per_s": batch / seconds if seconds else None,
    }
    # the busiest part's window is the run's peak: given to account as the composed report's earlier power, so
    # that its peak-over-TDP note quotes the power.peak_w_per_chip the report keeps (probe p151 #1: the note was
    # made from the denoiser's 704.6 W, or none for sd15 on h100, and the VAE decoder's 827 W put in after it)
    busiest = max((s.shown.report.get("power") or {} for _, _, s, _ in runs),
                  key=lambda pw: float(pw.get("peak_w_per_chip") or pw.get("peak_w") or 0))
    if busiest:
        out["power"] = {"peak_w": busiest.get("peak_w"), "peak_w_per_chip": busiest.get("peak_w_per_chip")}
    # energy of the composed run (the passes' own were copied); each part's chips, so that j_per_inference charges
    # a tensor-parallel group's other chips static power only while chip 0 runs a one-chip part (probe p191 #2)
    out.update(account(out, arch, spread=[(part, spread[part], count * s.timing.active_s)
                                          for part, count, s, _ in runs]))
    return Report(out, segments=segments or None)


COUNT_NOTE = re.compile(r"^\d[\d,]* [^:]*?op\(s\)")
"""How a part's note begins that counts the part's ops ("93 op(s) of dtype ...", "12 fused attention op(s) do not
fit ..."): :func:`counted` names the part after it."""


def counted(note: str, s: Sampled, part: str, count: int) -> str:
    """A part's ``note`` naming the part after its op count where it counts one execution's ops (:data:`COUNT_NOTE`):
    "93 op(s) in the vae_decoder pass of dtype ...", "868 op(s) in each of the 30 unet passes of dtype ..."; other
    notes as they are."""
    whose = pass_name(s, part) if count == 1 else f"each of the {count} {pass_name(s, part)[len('the '):]}es"
    return COUNT_NOTE.sub(lambda m: f"{m.group(0)} in {whose}", note, count=1)


def chips_notes(arch: Arch, spread: dict[str, int], mac_utilization: float) -> list[str]:
    """One line on the chips a composed diffusion run uses, in place of its parts' own (each of which calls its
    figures the run's): the parts run one after another on chip 0 and, for a tensor-parallel denoiser, its group;
    every figure of the report is chip 0's (its shard of a tensor-parallel part, the whole of a one-chip part),
    so ``mac_utilization`` is against one chip's peak. None on a one-chip arch."""
    n = arch.chips
    if n <= 1:
        return []
    group = max(spread.values())
    alone = [part for part, k in spread.items() if k <= 1]
    ways = [f"the {part} over chips 0-{k - 1} (tensor_parallel {k})" for part, k in spread.items() if k > 1]
    if alone:
        ways.append(f"the {' and '.join(alone)} on chip 0 alone (no key spreads {'them' if len(alone) > 1 else 'it'}"
                    f" over chips)")
    idle = "" if group >= n else (f"; chip {group} is idle" if group == n - 1 else
                                  f"; chips {group}-{n - 1} are idle")
    whose = "its shard of a tensor-parallel part, the whole of a one-chip part" if group > 1 else "the whole run"
    return [f"chips: {n}: the parts run one after another, {'; '.join(ways)}{idle}. Every figure here is chip 0's "
            f"({whose}): mac_utilization {mac_utilization:.1%} is against one chip's peak, "
            f"{mac_utilization / n:.2%} against the {n}-chip system's"]


def footprint(out: dict, memories: list[dict]) -> None:
    """The pipeline's memory footprint in ``out["memory"]``: every part's weights held together, as a diffusers
    pipeline keeps its models on the device, beside the largest part's activations (each part placed as alone);
    a note when that exceeds a level's capacity (diffusers would run out of memory unless it offloads models)."""
    memory: dict[str, dict] = {}
    for level in dict.fromkeys(lv for m in memories for lv in m):
        parts = [m[level] for m in memories if level in m]
        weights = sum(int(p.get("weights", 0)) for p in parts)
        activations = max(int(p.get("activations", 0)) for p in parts)
        kv = max(int(p.get("kv_cache", 0)) for p in parts)
        capacity = int(usable_bytes(parts[0]))  # what a program can allocate (hbm.usable_fraction)
        used = weights + kv + activations
        memory[level] = {**parts[0], "weights": weights, "kv_cache": kv, "activations": activations, "used": used,
                         "fraction": used / capacity if capacity else 0.0}
        if capacity and used > capacity:
            out["notes"] = [*out.get("notes", []), f"memory: the pipeline's parts hold {used / 2**30:.2f} GiB in "
                            f"{level} together (every part's weights and the largest activations), over its "
                            f"{capacity / 2**30:.2f} GiB: each part was placed as if alone; diffusers would need to "
                            f"offload models (enable_model_cpu_offload, not modelled)"]
    if memory:
        out["memory"] = memory


__all__ = ["chips_notes", "diffusion", "is_pipeline", "parts_of"]
