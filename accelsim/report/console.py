"""Terminal tables of one report: the key figures of the run, and the ops that kept the units busiest.

Built from the plain report dict with rich, so ``accelsim run`` and ``accelsim plot OUTDIR`` print the same thing.
Memory levels come from the report (:func:`accelsim.report.schema.levels`), never by name.
"""

from __future__ import annotations

import math

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..energy.model import off_package_parts
from . import fmt
from .fmt import STALL_LABEL
from .schema import (
    chips_covered,
    core_units,
    group_units,
    levels,
    main_memory,
    memory_levels,
    op_busy_cycles,
    op_part,
    op_runs,
    op_span,
    ordered,
    part_keys,
    stall_share,
    top_ops,
)
from .tables import Col, fitted_table


def unit_busy_text(values: list[object]) -> str:
    """The busy share of a group of identical units (:func:`accelsim.report.schema.unit_groups`): one figure when
    they agree to the digit shown ("56.7 %"), else their mean and range ("4.2 % mean (1.0 %-7.5 %)")."""
    vs = [fmt.num(v) for v in values]
    if len(vs) == 1:
        return fmt.pct(values[0])
    low, high = fmt.pct(min(vs)), fmt.pct(max(vs))
    return fmt.pct(sum(vs) / len(vs)) + ("" if low == high else f" mean ({low}-{high})")


def utilization_in_order(report: dict) -> dict:
    """report.json's ``utilization`` in the order the renderers show it (docs/architecture.md "Renderers": the
    report's levels innermost first): the cores' compute units as given, then the memory levels innermost first
    (``sram``, ``l2``, ``hbm``, ``host``: :func:`~accelsim.report.schema.ordered`), then the rest as given (the
    host's ``launch``, the chips' ``link``). report.json's own order is its units' insertion order, which listed
    ``hbm, host, l2`` on an H100 (probe p221 #4)."""
    util = report.get("utilization")
    if not isinstance(util, dict):
        return {}
    compute = core_units({"utilization": {k: 0.0 for k in util}})
    rest = ordered([k for k in util if k not in compute], report)
    return {k: util[k] for k in [*[k for k in util if k in compute], *rest]}


def unit_busy_rows(util: dict) -> list[tuple[str, str]]:
    """(label, busy text) per kind of unit (:func:`accelsim.report.schema.unit_groups`), the same on every arch:
    a unit alone as itself ("core0.systolic0", "97.0 %"), a group with its size ("core*.systolic* (8)", "56.7 %")."""
    return [(label if len(vs) == 1 else f"{label} ({len(vs)})", unit_busy_text(vs))
            for label, vs in group_units(util).items()]


def _pipeline_rows(report: dict) -> list[tuple[str, str]]:
    pipe = report.get("pipeline")
    if not pipe:
        return []
    main = main_memory(report) or "memory"
    rows = [("pipeline", f"{pipe['stages']} stages × {pipe['micro_batches']} micro-batches, interleave "
                         f"{pipe['interleave']}: bubble {fmt.pct(pipe['bubble_fraction'])}, optimizer "
                         f"{fmt.seconds(pipe['optimizer_s'])}"
                         + (f" (gradient reduction {fmt.seconds(pipe['grad_reduce_s'])})" if pipe.get("grad_reduce_s")
                            else "") + f", p2p {fmt.seconds(pipe['p2p_s'])}"
                         + (f" ({pipe['p2p_transfers']:,} send{'' if pipe['p2p_transfers'] == 1 else 's'} on the "
                            f"critical path of {pipe['p2p_sends_total']:,} in the step)" if "p2p_sends_total" in pipe
                            else ""))]
    # the stage's share of its main memory's capacity, said so: printed above the busy rows, "hbm 3.8 %" read as a
    # busy share (probe p108 #3)
    usable = ((report.get("memory") or {}).get(main) or {}).get("usable")  # a stage's fraction is of it too
    for row in pipe.get("stage_times", []):
        rows.append((f"  stage {row['stage']}", f"{fmt.seconds(row['micro_batch_s'])} per micro-batch, "
                                                f"{used_text(row.get('hbm_used_bytes'), main, row['hbm_fraction'], usable)}"
                                                f" with {fmt.general(row['activations_in_flight'])} micro-batch"
                                                f"{'' if row['activations_in_flight'] == 1 else 'es'} in flight"))
    return rows


def used_text(used: object, level: str, fraction: object, usable: object = None) -> str:
    """"12.46GiB of hbm used (15.6 % of its capacity)": a footprint's bytes on a memory level and their share of
    its capacity, said so (a bare "hbm 15.6 %" reads as a busy share, probe p108 #3). Where the level's row has a
    ``usable`` (``usable_fraction`` < 1) the fraction is of that, so "of its usable bytes" (probe p249 #3: l40s
    printed "4.9 % of its capacity", which is 2.197GiB of the 44.52GiB usable, not of the 48GiB capacity)."""
    of = "its usable bytes" if fmt.number(usable) is not None else "its capacity"
    return f"{fmt.size(used)} of {level} used ({fmt.pct(fraction)} of {of})"


# a training footprint's parts (report ``memory``: level -> Footprint), in the order of a step's state
_FOOTPRINT_PARTS = (("weights", "weights"), ("gradients", "gradients"), ("optimizer_states", "optimizer states"),
                    ("activations", "activations"), ("kv_cache", "KV cache"), ("state", "recurrent state"))


def memory_rows(report: dict) -> list[tuple[str, str]]:
    """The ``memory`` rows of a training step (report ``memory`` beside ``data_parallel``, which every step has):
    per memory level, the main memory always and another only where it holds something (``options.offload``'s
    host), its bytes used and their share of its capacity (over 100 %: the step does not fit), then the parts they
    add up to (weights, gradients, optimizer states, activations, and a KV cache or recurrent state a model keeps).
    One chip's, a pipeline's fullest stage's (probe p134 #2: a one-chip step printed no footprint at all)."""
    memory = report.get("memory")
    if not isinstance(memory, dict) or not report.get("data_parallel"):
        return []
    main = main_memory(report)
    chips = (report.get("arch") or {}).get("chips") or 1
    whose = ("the fullest stage's" if (report.get("pipeline") or {}).get("stages", 1) > 1
             else "one chip's" if chips > 1 else "")
    rows = []
    for level in ordered(memory, report):
        fig = memory[level] if isinstance(memory[level], dict) else {}
        if level != main and not fmt.num(fig.get("used")):
            continue
        parts = ", ".join(f"{label} {fmt.size(fig[key])}" for key, label in _FOOTPRINT_PARTS
                          if fmt.num(fig.get(key)) or (level == main and key in ("weights", "activations")))
        over = "; over its capacity: the step does not fit" if fmt.num(fig.get("fraction")) > 1 else ""
        rows.append((f"memory {level}", f"{used_text(fig.get('used'), level, fig.get('fraction'), fig.get('usable'))}"
                                        f"{f', {whose}' if whose else ''}: {parts}{over}"))
    return rows


def _serving_rows(report: dict) -> list[tuple[str, str]]:
    """The LLM serving figures of a run with ``decode_steps`` (report ``serving``): time to first token, time per
    output token and tokens per second, and how many of the decode steps were simulated."""
    serving = report.get("serving")
    if not serving:
        return []
    steps, simulated = serving.get("decode_steps", 0), len(serving.get("decode_steps_simulated") or [])
    sampled = f", {simulated} simulated" if simulated and simulated < steps else ""
    ttft = serving.get("ttft_s")
    ttft_text = fmt.seconds(ttft) if fmt.number(ttft) is not None else "none (no prefill)"
    # an MoE's expert-parallel ranks each decode a batch of their own: tokens/s is all of theirs (probe p90 #3)
    ranks = ((report.get("workload") or {}).get("params") or {}).get("expert_parallel")
    each = (f" on each of {ranks} expert-parallel ranks" if isinstance(ranks, int) and not isinstance(ranks, bool)
            and ranks > 1 else "")
    return [("serving", f"TTFT {ttft_text}, TPOT {fmt.seconds(serving.get('tpot_s'))}, "
                        f"{fmt.general(serving.get('tokens_per_s'))} tokens/s (batch "
                        f"{serving.get('batch')}{each}, {steps} decode steps{sampled})")]


def launch_rows(report: dict) -> list[tuple[str, str]]:
    """The ``launch-bound`` row of a run whose kernels a host launches (report ``execution`` not ``none``): the
    share of the time launches add (``launch_bound_fraction``), that time, and each pass's launch mode."""
    if report.get("execution") in (None, "none"):
        return []
    return [("launch-bound", f"{fmt.pct(report.get('launch_bound_fraction'))} of the time "
                             f"({fmt.seconds(report.get('launch_overhead_s'))} added by kernel launches; "
                             f"{report['execution']})")]


def mfu_rows(report: dict) -> list[tuple[str, str]]:
    """The ``MFU`` row of a training step (report ``mfu``, ``model_flops``), the console's and report.html's."""
    if report.get("mfu") is None:
        return []
    # the model's work on the chips the report covers, not the whole step's (probe p138 #1)
    covered, chips_all = chips_covered(report), (report.get("arch") or {}).get("chips") or 1
    whose = (f", {'one chip' if covered == 1 else f'{covered} chips'} of {chips_all}'s share" if chips_all > covered
             else "")
    return [("MFU", f"{fmt.pct(report['mfu'])} (model FLOPs utilization: {fmt.count_si(report.get('model_flops'))} "
                    f"FLOPs of forward + backward without recomputation{whose}, at the peak of the run's dtype; MAC "
                    "utilization counts what ran)")]


def data_parallel_rows(report: dict) -> list[tuple[str, str]]:
    """The ``data parallel`` row of a training step on several replicas (report ``data_parallel``): replicas,
    per-replica and global batch, samples/s, and the gradient reduction's span and bytes (``phases.grad_reduce``);
    a step of one replica gets a ``samples/s`` row (its batch over the step's time; probe p134 #2: none was shown)."""
    dp = report.get("data_parallel")
    if not dp:
        return []
    if dp.get("replicas", 1) <= 1:
        sps = fmt.num(dp.get("samples_per_s"), None)
        rate = fmt.DASH if sps is None else fmt.count(sps) if sps >= 1000 else f"{sps:.4g}"  # never "8.33e+04"
        return [("samples/s", f"{rate} (batch {fmt.general(dp.get('global_batch'))} a step ÷ its time)")]
    per = dp.get("chips_per_replica", 1)
    red = (report.get("phases") or {}).get("grad_reduce")
    clock = report.get("clock_hz")
    reduce = (f"; gradient reduction {fmt.seconds(red['cycles'] / clock)} span, {fmt.size(red['link_bytes'])} "
              f"sent per chip" if red and clock else "")
    return [("data parallel", f"{dp['replicas']} replicas{f' of {per} chips' if per > 1 else ''} × batch "
                              f"{dp['batch_per_replica']} = global batch {dp['global_batch']}, "
                              f"{fmt.count(round(dp['samples_per_s']))} samples/s{reduce}")]


def _diffusion_rows(report: dict) -> list[tuple[str, str]]:
    """A diffusion pipeline's figures (report ``diffusion``): seconds per image and each part's count and time."""
    d = report.get("diffusion")
    if not d:
        return []
    parts = ", ".join(f"{p['part']} {p['count']} × {fmt.seconds(p['seconds'])}" for p in d.get("parts", []))
    return [("diffusion", f"{fmt.seconds(d.get('seconds_per_image'))} per image, "
                          f"{fmt.general(d.get('images_per_s'))} images/s (batch {d.get('batch')}): {parts}")]


def static_only(energy: dict, kind: str, name: str) -> bool:
    """Whether the energy of level (``kind`` "level") or unit ("unit") ``name`` is its share of the static energy
    alone: it moved no byte (a level) or computed nothing (a unit), and its joules are the static power shared out
    by area over the run (docs/energy.md). False for a report without the split (before probe p142)."""
    total = (energy.get(f"by_{kind}") or {}).get(name)
    static = (energy.get(f"static_by_{kind}") or {}).get(name)
    return bool(total) and static is not None and math.isclose(total, static, rel_tol=1e-12)


def part_joules(energy: dict, kind: str, name: str) -> str:
    """A level's or unit's energy as the console and report.html write it: "1.72 mJ", "1.72 mJ (static)" when it
    is static energy only (probe p142 #6: "energy host 1.72 mJ" beside "bytes host 0B" read as traffic)."""
    text = fmt.joules((energy.get(f"by_{kind}") or {}).get(name))
    return f"{text} (static)" if static_only(energy, kind, name) else text


def energy_rows(report: dict) -> list[tuple[str, str]]:
    """The energy, power, efficiency and area rows of a report (none when its arch gave no energy constants)."""
    energy, power, area = report.get("energy"), report.get("power") or {}, report.get("area") or {}
    if not energy:
        return []
    activity = f"{fmt.joules(energy['activity_j'])} activity, " if energy.get("activity_j") else ""
    covered, chips_all = (report.get("power") or {}).get("chips") or 1, (report.get("arch") or {}).get("chips") or 1
    whose = f", {'one chip' if covered == 1 else f'{covered} chips'} of {chips_all}" if chips_all > covered else ""
    rows = [("energy", f"{fmt.joules(energy.get('total_j'))} ({fmt.joules(energy.get('dynamic_j'))} dynamic, "
                       f"{activity}{fmt.joules(energy.get('static_j'))} static{whose})")]
    by_level = energy.get("by_level") or {}
    # a level and a unit may share a name (the chip link): each row says which it is (probe p73 #6)
    both = set(by_level) & set(energy.get("by_unit") or {})
    rows += [(f"  energy {lv}" + (" (level)" if lv in both else ""), part_joules(energy, "level", lv))
             for lv in ordered(by_level, report)]
    rows += [(f"  energy {u}" + (" (unit)" if u in both else ""), part_joules(energy, "unit", u))
             for u in energy.get("by_unit") or {}]
    tdp = power.get("tdp_w")
    chips = power.get("chips") or 1
    aside = [f"{fmt.watts(power.get('average_w_per_chip'))} / {fmt.watts(power.get('peak_w_per_chip'))} on each of "
             f"{chips} chips"] if chips > 1 else []
    if power.get("off_package_w"):
        aside += [f"{fmt.watts(power.get('package_w_per_chip'))} in the package per chip, "
                  f"{fmt.watts(power.get('off_package_w'))} off-package "
                  f"{off_package_parts(energy.get('by_level') or {}, energy.get('off_package_j') or 0.0)}"]
    aside += [f"TDP {fmt.watts(tdp)} per chip"] if tdp else []
    rows.append(("power", f"{fmt.watts(power.get('average_w'))} average, {fmt.watts(power.get('peak_w'))} peak"
                          + (f" ({', '.join(aside)})" if aside else "")))
    eff = report.get("efficiency") or {}
    steps = (("j_per_step", f"step ({chips_all} chips)"), ("j_per_step_per_chip", "step per chip")) \
        if chips_all > 1 else (("j_per_step", "step"),)
    per = [f"{fmt.joules(eff[k])}/{what}" for k, what in (("j_per_token", "token"), *steps,
                                                          ("j_per_inference", "sample")) if eff.get(k)]
    useful = eff.get("useful_tops_per_w")  # the model's FLOPs, where they differ from those executed as printed
    shown = fmt.general(eff.get("tops_per_w"))  # (not to the 6th digit: probe p73 #7 printed "0.1953 ... 0.1953")
    tops = f"{shown} TOPS/W" + (f" executed, {fmt.general(useful)} useful"
                                if useful is not None and fmt.general(useful) != shown else "")
    if report.get("flops") == 0:  # a run of one collective: the model computes nothing (its rates None: no FLOPs)
        executed = eff.get("tops_per_w")  # (probe p118 #6 printed "0 TOPS/W": a rate of no work, not a poor one)
        tops = (f"{shown} TOPS/W executed (its reduction's adds), useful n/a (no model FLOPs)" if executed
                else "TOPS/W n/a (no FLOPs)")
    rows.append(("efficiency", ", ".join([tops, *per])))
    rows.append(("EDP", f"{fmt.general(report.get('edp'))} J·s"))
    if area:
        rows.append(("area", f"{fmt.mm2(area.get('total_mm2'))} ("
                             + ", ".join(f"{k} {fmt.mm2(v)}" for k, v in {**area.get("units", {}),
                                                                         **area.get("levels", {}),
                                                                         "other": area.get("other_mm2")}.items() if v)
                             + ")"))
    return rows


COLLECTIVES_LISTED = 3  # a run with more collectives (training, serving) leaves them to the ops table


def _collective_rows(report: dict) -> list[tuple[str, str]]:
    """One row per collective of a run that has at most :data:`COLLECTIVES_LISTED` of them (the ``collective``
    micro-workload): its message, group, the algorithm (and protocol) NCCL's tuner took and its bus bandwidth; a
    run with more gets one row: how many calls, their time on the link, and the calls per collective and algorithm.
    A composed run's op row stands for its ``count`` executions (the decode steps, the layers a layer sample
    stands for), so the calls and seconds count each row ``count`` times, as the report's bytes do (probe p90 #4:
    Mixtral at expert_parallel 8, a 256-token prefill and 8 decode steps, gave 8 calls and 0.21 ms of its 576
    all-to-alls' 12.6 ms)."""
    calls = [op for op in report.get("ops") or [] if "algorithm" in (op.get("mapping") or {})]
    if not calls:
        return []
    times = [_executions(op) for op in calls]
    if sum(times) > COLLECTIVES_LISTED:
        seconds = sum(n * float(op["mapping"].get(f"{op.get('fn')}_s", 0.0)) for op, n in zip(calls, times,
                                                                                                strict=True))
        kinds: dict[str, int] = {}
        for op, n in zip(calls, times, strict=True):
            key = f"{op.get('fn')} {_how(op['mapping'])}"
            kinds[key] = kinds.get(key, 0) + n
        listed = ", ".join(f"{k} {n:,}" for k, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
        return [("collective ops", f"{sum(times):,} calls, {fmt.seconds(seconds)} of link time ({listed})")]
    rows = []
    for op in calls:
        m = op["mapping"]
        rows.append((f"collective {op['name']}", f"{op.get('fn')} of {fmt.size(m.get('message_bytes', 0))} over "
                     f"{m.get('group')} chips: {_how(m)}, bus bandwidth {fmt.bandwidth(m.get('bus_bandwidth'))}"))
    return rows


def _executions(op: dict) -> int:
    """The executions an op row stands for: its ``count`` (a composed run's), else 1."""
    count = op.get("count")
    return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else 1


def _how(mapping: dict) -> str:
    """"ring/LL": a collective's algorithm and, where NCCL's tuner chose one, its protocol."""
    return "/".join(str(x) for x in (mapping.get("algorithm"), mapping.get("protocol")) if x)


def bandwidth_rows(report: dict) -> list[tuple[str, str]]:
    """(level, "58.8 % used (1.969TB/s of 3.35TB/s)") for each level of the report's ``bandwidth_share`` that moved
    data at a known bandwidth, innermost first; none for a report without it (a composed pipeline or serving one)."""
    shares = report.get("bandwidth_share") or {}
    peaks = {lv.get("name"): lv.get("bandwidth") for lv in report.get("levels") or []}
    return [(level, f"{fmt.pct(shares[level])} used ({fmt.bandwidth(shares[level] * peaks[level])} of "
                    f"{fmt.bandwidth(peaks[level])})")
            for level in ordered(shares, report) if shares[level] and peaks.get(level)]


def summary_table(report: dict) -> Table:
    """A two-column table of the run's key figures: workload, arch, cycles, time, work, utilization, bytes and
    stalls per memory level (innermost first)."""
    table = Table(title=f"accelsim: {report.get('name', 'run')}", show_header=False, title_justify="left")
    table.add_column("figure", style="bold", no_wrap=True)
    table.add_column("value", justify="left")
    lv = levels(report)
    table.add_row("workload", fmt.workload_text(report.get("workload") or {}))
    table.add_row("arch", fmt.arch_text(report.get("arch") or {}, lv, report.get("clock_hz")))
    table.add_row("total cycles", fmt.count(report.get("total_cycles")))
    table.add_row("time", fmt.seconds(report.get("seconds")))
    for label, text in launch_rows(report):
        table.add_row(label, text)
    for label, text in (*_serving_rows(report), *_pipeline_rows(report), *data_parallel_rows(report),
                        *memory_rows(report), *_diffusion_rows(report)):
        table.add_row(label, text)
    for label, text in _collective_rows(report):
        table.add_row(label, text)
    for key, label in (("macs", "MACs"), ("flops", "FLOPs"), ("params", "params")):
        if report.get(key) is not None:
            table.add_row(label, fmt.count_si(report[key]))
    computed, flops = report.get("computed_flops"), report.get("flops")
    if computed is not None and flops is not None and computed != flops:  # a causal kernel skips blocks; an array multiplies zeros
        secs = fmt.num(report.get("seconds"), None)
        chips = chips_covered(report)  # a pipeline's FLOPs are its P chips': the rate a chip, as MFU counts it
        rate = (f", {fmt.flops_rate(computed / secs / chips)}{f' a chip ({chips} chips)' if chips > 1 else ''}"
                if secs else "")
        table.add_row("  computed", f"{fmt.count_si(computed)} FLOPs{rate} (what the kernels compute)")
    table.add_row("MAC utilization", fmt.pct(report.get("mac_utilization")))
    for label, text in mfu_rows(report):  # a training step: the model's FLOPs beside what the arrays ran
        table.add_row(label, text)
    for unit, text in unit_busy_rows(utilization_in_order(report)):
        table.add_row(f"  busy {unit}", text)
    for level, text in bandwidth_rows(report):  # beside busy: a latency-bound kernel's level is busy, not at its bandwidth
        table.add_row(f"  bandwidth {level}", text)
    moved = report.get("bytes") or {}
    for level in ordered(moved, report):
        table.add_row(f"  bytes {level}", fmt.size(moved[level]))
    table.add_row(STALL_LABEL, fmt.count(report.get("stall_cycles")))
    stalls = report.get("stalls_by_level") or {}
    for level in ordered(stalls, report):
        table.add_row(f"  stall {level}", fmt.count(stalls[level]))
    for label, text in energy_rows(report):
        table.add_row(label, text)
    sim = report.get("simulation") or {}
    if sim:
        table.add_row("simulation", ", ".join(f"{fmt.count(v)} {k}" for k, v in sim.items()))
    return table


def top_ops_table(report: dict, n: int = 10, width: int | None = None) -> Table:
    """The ``n`` busiest ops, busiest first: name, kind, unit, busy cycles, span, stall %, off-chip bytes, roofline.

    The last column is the op's ``bound`` in report.json, its roofline position (memory: its bytes at a level's
    bandwidth take longer than its work at its unit's peak), headed "roofline" so that it does not read as what its
    stall % measures: an op can be memory-bound on the roofline and stall 2 % (ResNet-50's conv1 on tpu-v1).

    Ops rank by their own busy cycles (:func:`accelsim.report.schema.op_busy_cycles`: ``compute_cycles``, the
    busiest unit's share), not by their start-to-end span, which counts waiting for other ops. stall % is the
    op's stall cycles over its stall plus compute cycles, both summed over every unit it ran on and every
    execution a composed row stands for (:func:`accelsim.report.schema.stall_share`). Off-chip bytes
    are those of the report's memory levels (its arithmetic intensity's denominator).

    A composed report (a serving run, a pipeline iteration: rows with a ``count``) ranks its rows by their busy
    cycles over all the executions they stand for, as their bytes are counted, so that the decode steps of a
    serving run are weighed by how often they run; a ``runs`` column gives the count, the op's name its phase or
    stage, and the span stays that of one execution.

    ``width``: the console's columns the table must fit (:func:`accelsim.report.tables.fitted_table`: the numbers
    stay whole; kind, unit and roofline move under the op's name, which is cut in its middle); None: any width.
    """
    ops = report.get("ops") or []
    composed = "count" in part_keys(ops)
    top = [ops[i] for i in top_ops(ops, n, over_runs=composed)]
    memories = memory_levels(report)
    cols = (Col("op", role="name"), Col("kind", role="detail"), Col("unit", role="detail"),
            *((Col("runs", "right"),) if composed else ()), Col("busy cycles", "right"),
            Col("span" + (" (one run)" if composed else ""), "right"), Col("stall %", "right"),
            Col("off-chip bytes", "right"), Col("roofline", role="detail"))
    rows = []
    for op in top:
        share = stall_share([op])
        moved = op.get("bytes") or {}
        offchip = sum(fmt.num(moved.get(lvl)) for lvl in memories)
        rows.append([
            str(op.get("name", "?")) + op_part(op),
            str(op.get("kind", "")),
            str(op.get("unit", "")),
            *((fmt.count(op_runs(op)),) if composed else ()),
            fmt.count(op_busy_cycles(op) * op_runs(op)),  # a plain run's rows count 1
            fmt.count(op_span(op)),
            fmt.DASH if share is None else f"{100 * share:.1f}",
            fmt.size(offchip),
            str(op.get("bound") or ""),
        ])
    return fitted_table(f"top {len(top)} of {len(ops)} ops by busy cycles", cols, rows, width,
                        title_justify="left")


def print_summary(report: dict, console: Console | None = None) -> None:
    """Print :func:`summary_table` and :func:`top_ops_table` of ``report`` to ``console`` (stdout by default)."""
    console = console or Console()
    console.print(summary_table(report))
    console.print(top_ops_table(report, width=console.width))
    for note in report.get("notes") or []:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)  # a note's [a,b] is text
