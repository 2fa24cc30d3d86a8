"""Side-by-side comparison of saved reports: the key metrics of each, and each one's ratio to a baseline report.

``accelsim compare OUTDIR OUTDIR ...`` reads each folder's report.json (:func:`load_reports`), takes the same
metrics from each (:func:`compare_rows`) and prints them as one rich table (:func:`compare_table`) or as JSON
(:func:`compare_json`). Everything works on the plain report dicts, for one report or more.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from accelsim.errors import AccelsimError

from ..energy.model import NIC, working_chips
from ..hardware import LEGACY_LEVELS
from ..options import defaults as option_defaults
from . import fmt
from .fmt import DASH, STALL_LABEL
from .schema import core_units, level_names, stall_share
from .tables import table_width
from .writers import REPORT_FILE, read_report

Reports = Sequence[tuple[str, dict]]

# Metric name → (table label, kind). Kinds: "text" (no ratio), "count", "seconds", "fraction", "bytes", "joules",
# "watts", "bandwidth", "number".
_METRICS: dict[str, tuple[str, str]] = {
    "workload": ("workload", "text"),
    "arch": ("arch", "text"),
    "total_cycles": ("total cycles", "count"),
    "seconds": ("time", "seconds"),
    "macs": ("MACs", "count"),
    "flops": ("FLOPs", "count"),
    "params": ("params", "count"),
    "mac_utilization": ("MAC utilization", "fraction"),
    "max_compute_utilization": ("max compute-unit busy", "fraction"),
    "stall_cycles": (STALL_LABEL, "count"),
    "stall_share": ("stall share", "fraction"),
    # energy, power and area (docs/energy.md); null in reports of an arch without energy constants. energy and
    # power cover power.chips chips (a pipeline's P stages): that count, then the power a chip (probe p73 #4)
    "power.chips": ("chips (energy, power)", "count"),
    "energy.total_j": ("energy", "joules"),
    "energy.dynamic_j": ("dynamic energy", "joules"),
    "energy.activity_j": ("activity energy", "joules"),  # the three parts add up to energy.total_j
    "energy.static_j": ("static energy", "joules"),
    # energy over every chip doing the work (a tensor-, context-, expert- or embedding-parallel group, a step's
    # replicas: energy.model.working_chips, results.csv's count), like with like across chip counts (probe p213 #1:
    # TP 8 beside TP 1 read energy 0.30x, the system spending 2.42x); then how many chips those are
    "working_energy_j": ("energy (every working chip)", "joules"),
    "working_chips": ("working chips", "count"),
    "power.average_w": ("average power", "watts"),
    "power.peak_w": ("peak power", "watts"),
    "power.average_w_per_chip": ("average power a chip", "watts"),
    "power.peak_w_per_chip": ("peak power a chip", "watts"),
    "efficiency.tops_per_w": ("TOPS/W", "number"),
    "efficiency.useful_tops_per_w": ("useful TOPS/W", "number"),
    # per token, sample or step on every chip it passes through (a tensor-parallel group's, all replicas' for a
    # step), not power.chips's: said in the label (probe p82 #3: a TP 8 run's energy 0.45x and J/inference 3.6x)
    "efficiency.j_per_token": ("J/token (every chip)", "joules"),
    "efficiency.j_per_inference": ("J/inference (every chip)", "joules"),
    "efficiency.j_per_step": ("J/step (every chip)", "joules"),
    "edp": ("EDP (J·s)", "number"),
    "area.total_mm2": ("area (mm²)", "number"),
}
_NESTED = ("energy.", "power.", "efficiency.", "area.")
# Metrics of an `accelsim serve` report (``kind: serving``; docs/serving.md), whose figures sit under ``serving``;
# its rows replace the accelerator rows above when every report is one (none of those is in a serving report).
_SERVING_METRICS: dict[str, tuple[str, str]] = {
    "serving.requests_per_s": ("requests/s", "number"),
    "serving.output_tokens_per_s": ("output tokens/s", "number"),
    "serving.ttft_s.p50": ("TTFT p50", "seconds"),
    "serving.ttft_s.p99": ("TTFT p99", "seconds"),
    "serving.tpot_s.p50": ("TPOT p50", "seconds"),
    "serving.tpot_s.p99": ("TPOT p99", "seconds"),
    "serving.e2e_s.p50": ("end-to-end p50", "seconds"),
    "serving.goodput.fraction": ("requests meeting SLOs", "fraction"),
    "serving.kv_cache_utilization.max": ("KV cache max use", "fraction"),
    "serving.preemptions": ("preemptions", "count"),
    # rows of the features a serving run uses (docs/serving.md), shown when some report has them
    "serving.conversations.later_turn_ttft_s.p50": ("later turns' TTFT p50", "seconds"),
    "serving.conversations.cached_history_fraction": ("history cached", "fraction"),
    "serving.speculative.tokens_per_verification": ("tokens a verification", "number"),
    # energy under load (docs/serving.md, "Energy"); null when the arch gives no energy constants
    "power.chips": ("chips (energy, power)", "count"),
    "energy.total_j": ("energy", "joules"),
    "power.average_w": ("average power", "watts"),
    "efficiency.j_per_output_token": ("J/output token", "joules"),
}
# Metrics of an `accelsim run` of an LLM with decode_steps (a prefill then decode steps; ``serving`` holds single
# figures, not an `accelsim serve` report's percentiles): rows after ``time`` when some report has them.
_DECODE_METRICS: dict[str, tuple[str, str]] = {
    "serving.ttft_s": ("TTFT", "seconds"),
    "serving.tpot_s": ("TPOT", "seconds"),
    "serving.tokens_per_s": ("tokens/s", "number"),
}
# Metrics of a diffusion pipeline's run (report ``diffusion``): rows after ``time`` when some report has them.
_DIFFUSION_METRICS: dict[str, tuple[str, str]] = {
    "diffusion.seconds_per_image": ("seconds/image", "seconds"),
    "diffusion.images_per_s": ("images/s", "number"),
}
# Metrics of a data-parallel training step (report ``data_parallel``): rows after ``time`` when some report has them.
_DATA_PARALLEL_METRICS: dict[str, tuple[str, str]] = {
    "data_parallel.replicas": ("data-parallel replicas", "count"),
    "data_parallel.global_batch": ("global batch", "count"),
    "data_parallel.samples_per_s": ("samples/s", "number"),
    "efficiency.j_per_step_per_chip": ("J/step per chip", "joules"),
}
# Metrics of a training step's model-FLOPs utilization (report ``mfu``, ``model_flops``; docs/architecture.md):
# rows after ``time`` when some report has them (probe p129 #1: MAC utilization counts recomputed FLOPs, so a
# full-recompute and a selective-recompute GPT-3 step read 55.4 % / 56.1 % there and 41.5 % / 55.6 % as MFU).
# model_flops is the share of the model's step the chips the report covers do (its "chips (energy, power)": one
# chip of a tensor-parallel group, a pipeline's P stages), not the step's: the label says so (probe p138 #1: GPT-2 at
# TP 2 read 0.50x the TP 1 run's, its global batch 4x)
_TRAINING_METRICS: dict[str, tuple[str, str]] = {
    "mfu": ("MFU", "fraction"),
    "model_flops": ("model FLOPs (chips covered)", "count"),
}
# Metrics of a run of the `collective` micro-workload (nccl-tests' figures: its op's ``mapping``): rows after ``time``
# when some report is one (probe p104 #7: compare showed no bus bandwidth or algorithm).
_COLLECTIVE_METRICS: dict[str, tuple[str, str]] = {
    "collective.bus_bandwidth": ("bus bandwidth", "bandwidth"),
    "collective.algorithm": ("algorithm", "text"),
    "collective.protocol": ("protocol", "text"),
}
# Metrics of a training step's memory footprint (report ``memory``: level -> Footprint, one chip's, a pipeline's
# fullest stage's): ``memory.<level>.<part>`` rows after the optional groups above when some report is a training
# step's, beside the time they trade against (probe p134 #1:
# full recompute read 1.33x the time with no row for activations 11.14 -> 2.68 GB). The main memory (each report's
# first level) always gives used, its share and weights and activations; any level gives a part some report holds
# there (a training step's gradients and optimizer states, a KV cache, an offloaded optimizer's host).
_MEMORY_PARTS: dict[str, tuple[str, str]] = {
    "used": ("used (footprint)", "bytes"),
    "fraction": ("used of capacity", "fraction"),
    "weights": ("weights", "bytes"),
    "gradients": ("gradients", "bytes"),
    "optimizer_states": ("optimizer states", "bytes"),
    "activations": ("activations", "bytes"),
    "kv_cache": ("KV cache", "bytes"),
    "state": ("recurrent state", "bytes"),
}
_MAIN_PARTS = ("used", "fraction", "weights", "activations")  # the main memory's rows whatever their values
_FITS = ("memory.fits", ("fits in memory", "text"))  # "yes", or "no (LEVEL, ...)": the levels over their capacity
MAX_SETTING_ROWS = 12  # differing settings shown in the table (two models differ in dozens of config fields)
# Per-level metrics, one row per memory level of the reports (``utilization.hbm``, ``bytes.hbm``), after those.
_LEVEL_METRICS: dict[str, tuple[str, str]] = {"utilization.": ("busy", "fraction"),
                                              "bandwidth_share.": ("bandwidth used", "fraction"),
                                              "bytes.": ("bytes", "bytes")}


# --- loading ------------------------------------------------------------------------------------------------------

def _folder(path: Path) -> Path:
    """The folder a report path names: the path itself, or the folder of a ``.json`` file."""
    return path.parent if path.suffix.lower() == ".json" and not path.is_dir() else path


def _base_parts(path: Path) -> list[str]:
    """Path components a label is built from, nearest first: the folder name (or a file's stem), then its parents."""
    path = Path(os.path.abspath(path))
    if path.suffix.lower() == ".json" and not path.is_dir() and path.name != REPORT_FILE:
        parts = [path.stem, *(p.name for p in path.parents)]
    else:
        folder = _folder(path)
        parts = [folder.name, *(p.name for p in folder.parents)]
    return [p for p in parts if p] or [str(path)]


def _labels(paths: Sequence[Path]) -> list[str]:
    """One distinct label per path: the folder name; equal names get parent folders ("a/run", "b/run") until they
    differ, and names still equal (the same folder twice) get " (2)", " (3)", ..."""
    parts = [_base_parts(p) for p in paths]
    depth = [1] * len(paths)

    def label(i: int) -> str:
        return "/".join(reversed(parts[i][: depth[i]]))

    while True:
        labels = [label(i) for i in range(len(paths))]
        # lengthen a label that equals another's whose path differs (the same folder twice cannot be told apart)
        grow = [i for i, lbl in enumerate(labels) if depth[i] < len(parts[i])
                and any(labels[j] == lbl and parts[j] != parts[i] for j in range(len(paths)))]
        if not grow:
            break
        for i in grow:
            depth[i] += 1
    taken: set[str] = set()
    out = []
    for lbl in labels:
        unique, n = lbl, 1
        while unique in taken:
            n += 1
            unique = f"{lbl} ({n})"
        taken.add(unique)
        out.append(unique)
    return out


def load_reports(paths: Iterable[str | os.PathLike]) -> list[tuple[str, dict]]:
    """``(label, report dict)`` for each path (a report folder or a report.json), in the order given.

    The label is the folder's name (a JSON file's stem if it is not called report.json), lengthened with parent
    folders when two are equal, then numbered if still equal. A missing or unreadable report raises
    :class:`AccelsimError` with a one-line message (from :func:`read_report`).
    """
    given = [Path(p) for p in paths]
    if not given:
        raise AccelsimError("no reports to compare: give one or more report folders or report.json files")
    reports = [read_report(p) for p in given]
    return list(zip(_labels(given), reports, strict=True))


# --- metrics ------------------------------------------------------------------------------------------------------



def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _name(value: object) -> str | None:
    if isinstance(value, dict):
        return fmt.model_name(value)
    return None if value is None else str(value)


def _level_split(metric: str) -> tuple[str, str] | None:
    """(prefix, level) of a per-level metric (``bytes.cxl`` → ("bytes.", "cxl")), else None."""
    for prefix in _LEVEL_METRICS:
        if metric.startswith(prefix):
            return prefix, metric[len(prefix):]
    return None


def _memory_split(metric: str) -> tuple[str, str] | None:
    """(level, part) of a footprint metric (``memory.LEVEL.activations`` → (LEVEL, "activations")), else None."""
    if not metric.startswith("memory.") or metric == _FITS[0]:
        return None
    level, _, part = metric.removeprefix("memory.").rpartition(".")
    return (level, part) if level and part in _MEMORY_PARTS else None


def _kind(metric: str) -> str:
    split, memory = _level_split(metric), _memory_split(metric)
    if memory:
        return _MEMORY_PARTS[memory[1]][1]
    if metric == _FITS[0]:
        return _FITS[1][1]
    return _LEVEL_METRICS[split[0]][1] if split else _spec(metric, ("", "number"))[1]


def _fits(report: dict) -> str | None:
    """"yes" when every memory level of the report's footprint holds at most what it can allocate (its ``usable``
    where the row has one, hbm.usable_fraction < 1; else its capacity), else "no (LEVEL, ...)" naming those over
    it; None for a report without a footprint."""
    memory = _dict(report.get("memory"))
    if not memory:
        return None
    room = lambda fig: fmt.number(fig.get("usable", fig.get("capacity")))  # noqa: E731
    over = [str(lvl) for lvl, fig in memory.items() if (fmt.number(_dict(fig).get("used")) or 0)
            > (room(_dict(fig)) if room(_dict(fig)) is not None else math.inf)]
    return "yes" if not over else f"no ({', '.join(over)})"


def _memory_keys(reports: Reports) -> list[str]:
    """The footprint rows of ``reports`` (:data:`_MEMORY_PARTS`) when some report is a training step's (its
    ``memory`` holds ``gradients``): per level of their ``memory`` objects, in order of first appearance, the main
    memory's :data:`_MAIN_PARTS` and every part some report holds bytes of there, then ``memory.fits``."""
    memories = [_dict(rep.get("memory")) for _, rep in reports]
    if not any("gradients" in _dict(fig) for m in memories for fig in m.values()):
        return []
    mains = {next(iter(m)) for m in memories if m}
    keys = []
    for level in dict.fromkeys(str(lvl) for m in memories for lvl in m):
        held = {part for m in memories for part, v in _dict(m.get(level)).items() if fmt.number(v)}
        parts = [p for p in _MEMORY_PARTS if (level in mains and p in _MAIN_PARTS) or p in held]
        if "used" not in parts:
            continue  # a level no report holds anything on (the host of a run without offload)
        keys += [f"memory.{level}.{p}" for p in parts]
    return [*keys, _FITS[0]] if keys else []


def _spec(metric: str, default: tuple[str, str]) -> tuple[str, str]:
    return (_METRICS.get(metric) or _SERVING_METRICS.get(metric) or _DECODE_METRICS.get(metric)
            or _DIFFUSION_METRICS.get(metric) or _DATA_PARALLEL_METRICS.get(metric)
            or _TRAINING_METRICS.get(metric) or _COLLECTIVE_METRICS.get(metric) or default)


def _is_serving(report: dict) -> bool:
    return report.get("kind") == "serving"


def _has_decode(report: dict) -> bool:
    """An `accelsim run` of an LLM with decode steps: a ``serving`` of single figures (its TTFT or, without a
    prefill, its TPOT a number)."""
    sv = _dict(report.get("serving"))
    return not _is_serving(report) and (fmt.number(sv.get("ttft_s")) is not None
                                        or fmt.number(sv.get("tpot_s")) is not None)


def _max_compute_utilization(report: dict) -> float | None:
    """The busiest compute unit's busy fraction (a core's unit: not a memory level, the host that launches ops or
    the chip link); None when there is none."""
    values = list(core_units(report).values())
    return max(values) if values else None


def _stall_share(report: dict) -> float | None:
    """stall cycles / (stall + compute cycles) summed over the ops, both over every unit and execution
    (:func:`accelsim.report.schema.stall_share`): the part of the compute units' working time (computing or
    stalled) spent waiting for data. None without ops or cycles."""
    ops = report.get("ops")
    return stall_share(op for op in ops if isinstance(op, dict)) if isinstance(ops, list) else None


def _collective(report: dict, field: str) -> object:
    """``field`` of the collective op's ``mapping`` in a run of the ``collective`` micro-workload, else None."""
    if _dict(report.get("workload")).get("model") != "collective" or not isinstance(report.get("ops"), list):
        return None
    return next((m[field] for op in report["ops"] for m in (_dict(_dict(op).get("mapping")),) if field in m), None)


def _peak_w_per_chip(report: dict) -> float | None:
    """``power.peak_w_per_chip``; in a report written before that key, ``power.peak_w`` ÷ ``power.chips`` (the
    energy model writes ``peak_w`` as the per-chip peak × ``chips``, energy/model.py ``account``; one chip: the
    peak itself). None when neither is there (probe p145 #3: a dash beside an older one-chip report's 50 W peak)."""
    power = _dict(report.get("power"))
    if "peak_w_per_chip" in power:
        return fmt.number(power["peak_w_per_chip"])
    peak, chips = fmt.number(power.get("peak_w")), fmt.number(power.get("chips"))
    return peak / chips if peak is not None and chips and chips > 0 else None


def _working_chips(report: dict) -> int | None:
    """How many of the arch's chips do the work the report simulates (:func:`accelsim.energy.model.working_chips`,
    as results.csv's ``system_energy_j`` counts them: the chips it covers × its tensor-, context-, expert- and
    embedding-parallel group, a training step's replicas); None for a report without the arch's chip count."""
    chips = _dict(report.get("arch")).get("chips")
    if not isinstance(chips, int) or isinstance(chips, bool) or chips <= 0:
        return None
    return working_chips(report, chips)


def _working_energy_j(report: dict) -> float | None:
    """``energy.total_j`` (the ``power.chips`` chips the report covers) scaled to every working chip
    (:func:`_working_chips`): a TP 8 decode step's 7.11 J a chip is 56.9 J; None without energy figures."""
    total, covered = fmt.number(_dict(report.get("energy")).get("total_j")), _dict(report.get("power")).get("chips")
    working = _working_chips(report)
    if total is None or working is None or not isinstance(covered, int) or covered <= 0:
        return None
    return total * working / covered


def _metric(report: dict, key: str) -> object:
    if key == _FITS[0]:
        return _fits(report)
    if key == "working_energy_j":
        return _working_energy_j(report)
    if key == "working_chips":
        return _working_chips(report) if _working_energy_j(report) is not None else None
    if key == "power.peak_w_per_chip":
        return _peak_w_per_chip(report)
    memory = _memory_split(key)
    if memory:
        return fmt.number(_dict(_dict(report.get("memory")).get(memory[0])).get(memory[1]))
    if key in _COLLECTIVE_METRICS:
        value = _collective(report, key.split(".", 1)[1])
        return value if _COLLECTIVE_METRICS[key][1] == "text" else fmt.number(value)
    if key in ("workload", "arch"):
        return _name(report.get("model") if key == "workload" and _is_serving(report) else report.get(key))
    if key == "max_compute_utilization":
        return _max_compute_utilization(report)
    if key == "stall_share":
        return _stall_share(report)
    split = _level_split(key)
    if split:
        return fmt.number(_dict(report.get(split[0][:-1])).get(split[1]))
    value: object = report
    nested = (key in _SERVING_METRICS or key in _DECODE_METRICS or key in _DIFFUSION_METRICS
              or key in _DATA_PARALLEL_METRICS or key.startswith(_NESTED))
    for part in key.split(".") if nested else (key,):
        value = _dict(value).get(part)
    return fmt.number(value)


def compare_rows(reports: Reports) -> list[tuple[str, list[object]]]:
    """The key metrics of each report, one ``(metric, [value per report])`` row each, in report order.

    Metrics: ``workload`` and ``arch`` (names), ``total_cycles``, ``seconds``, ``macs``, ``flops``, ``params``,
    ``mac_utilization``, ``max_compute_utilization`` (the busiest compute unit's busy fraction),
    ``stall_cycles``, ``stall_share`` (stall / (stall + compute) cycles over the ops), the energy, power,
    efficiency, EDP and area figures (``power.chips``: the chips ``energy.total_j`` and ``power.average_w`` cover,
    then those, ``power.average_w_per_chip``, ...), then for every memory level
    of the reports (the union of their levels, each report's innermost first, in order of first appearance)
    ``utilization.<level>`` (its busy fraction, for the levels that have a bandwidth server),
    ``bandwidth_share.<level>`` (the share of its bandwidth used, for the levels some report gives it: a composed
    pipeline or serving report has none) and ``bytes.<level>``. When a report is an ``accelsim run`` with decode steps, its ``serving.ttft_s``,
    ``serving.tpot_s`` and ``serving.tokens_per_s`` follow ``seconds``, and for a diffusion pipeline's run
    ``diffusion.seconds_per_image`` and ``diffusion.images_per_s``, and for a data-parallel training step
    ``data_parallel.replicas``, ``data_parallel.global_batch``, ``data_parallel.samples_per_s`` and
    ``efficiency.j_per_step_per_chip``, when some report is a training step's its memory footprint
    (``memory.<level>.used``, ``.fraction``, ``.weights``, ``.gradients``, ``.optimizer_states``, ``.activations``
    and any other part a report holds, then ``memory.fits``: :func:`_memory_keys`), and for a run of the
    ``collective`` micro-workload its
    ``collective.bus_bandwidth``, ``collective.algorithm`` and ``collective.protocol`` (its op's ``mapping``). Reports of ``accelsim serve`` (``kind: serving``) add, after ``arch``, their request rate,
    output tokens/s, TTFT, TPOT and end-to-end percentiles, share meeting the SLOs, peak KV-cache use and
    preemptions (``serving.ttft_s.p50``, ...), and the later turns' TTFT, history cached and tokens a
    verification when some report has conversations or speculative decoding; when every report is one, the
    accelerator rows (which no serving report holds) are left out. A value a report lacks (or holds as null) is None.
    """
    levels = list(dict.fromkeys(str(lvl) for _, rep in reports
                                for lvl in [*level_names(rep), *_dict(rep.get("bytes"))]))
    busy = [lvl for lvl in [*levels, NIC] if any(lvl in _dict(rep.get("utilization")) for _, rep in reports)]
    serving = [_is_serving(rep) for _, rep in reports]
    optional = {k for k in _SERVING_METRICS if k.startswith(("serving.conversations.", "serving.speculative."))}
    # beside a run report the run rows follow, energy and average power among them: those are not listed twice
    # and a serving report's J/output token is its J/token (docs/serving.md): one row, J/token (probe p73 #5)
    later = {*_METRICS, "efficiency.j_per_output_token"} if not all(serving) else set()
    keys = ["workload", "arch", *(k for k in (_SERVING_METRICS if any(serving) else ()) if k not in later
                                  and (k not in optional or any(_metric(rep, k) is not None for _, rep in reports)))]
    if not all(serving):
        decode = list(_DECODE_METRICS) if any(_has_decode(rep) for _, rep in reports) else []
        decode += list(_DIFFUSION_METRICS) if any(_dict(rep.get("diffusion")) for _, rep in reports) else []
        decode += list(_DATA_PARALLEL_METRICS) if any(_dict(rep.get("data_parallel")) for _, rep in reports) else []
        decode += list(_TRAINING_METRICS) if any(rep.get("mfu") is not None for _, rep in reports) else []
        decode += list(_COLLECTIVE_METRICS) if any(_collective(rep, "algorithm") is not None
                                                   for _, rep in reports) else []
        decode += _memory_keys(reports)
        run = list(_METRICS)[2:]
        at = run.index("seconds") + 1
        # bandwidth_share: the levels some report has it for (a pipeline or serving report has none)
        shared = [lvl for lvl in levels if any(lvl in _dict(rep.get("bandwidth_share")) for _, rep in reports)]
        keys += [*run[:at], *decode, *run[at:], *(f"utilization.{lvl}" for lvl in busy),
                 *(f"bandwidth_share.{lvl}" for lvl in shared), *(f"bytes.{lvl}" for lvl in levels)]
    return [(key, [_metric(rep, key) for _, rep in reports]) for key in keys]


def _flatten(out: dict[str, object], key: str, value: object) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(out, f"{key}.{k}", v)
    else:
        out[key] = value


def settings(report: dict) -> dict[str, object]:
    """What a report was run with, flattened to dotted keys: ``workload.<param>`` (its batch, dtype and mode, and
    every builder parameter), ``arch.<field>`` (the arch summary: ``arch.clock_hz``, ``arch.systolic.rows``,
    ``arch.levels.l2.capacity_bytes``, ``arch.interconnect.bytes_per_s``, ...; a report written before
    ``arch.levels`` gives its ``memory_bytes_per_s.hbm`` as ``arch.levels.hbm.bytes_per_s``), the launch mode ``execution`` and ``kernel_order``, and
    ``options.<option>`` for each option the report records (those not at their default: report.json's
    ``options``; ``execution`` and ``kernel_order`` stand for the options of those names, as the run resolved
    them). An ``accelsim serve`` report's model stands for its workload (its parameters left unset, null, are
    not settings: the model's defaults, which the report does not resolve), and its ``config`` flattened as
    ``--set`` names it (``workload.arrival.rate``, ``engine.max_num_seqs``, ``slo.ttft``, ``replicas``, ...; but
    :data:`SERVE_COST_RUNTIME`)."""
    out: dict[str, object] = {}
    serving = _is_serving(report)
    wl = _dict(report.get("model") if serving else report.get("workload"))
    for k, v in {**_dict(wl.get("params")), **{k: v for k, v in wl.items() if k != "params"}}.items():
        # the builder's name (and a preset's): the workload row shows it
        if k not in ("name", "model") and not (serving and v is None):
            _flatten(out, f"workload.{k}", v)
    arch = _dict(report.get("arch"))
    for k, v in arch.items():
        # a report with arch.levels gives each level's bandwidth there (memory_bytes_per_s is kept for scripts); one
        # written before arch.levels gives it as the same key would (probe p145 #2: memory_bytes_per_s.hbm and
        # levels.hbm.bytes_per_s, the same 34 GB/s, read as two settings that differ)
        if k == "memory_bytes_per_s" and "levels" not in arch:
            for level, rate in _dict(v).items():
                out[f"arch.levels.{level}.bytes_per_s"] = rate
        elif k != "name" and k != "memory_bytes_per_s":
            _flatten(out, f"arch.{k}", v)
    for k in _RESOLVED_OPTIONS:
        if k in report:
            out[k] = report[k]
    for k, v in _dict(report.get("options")).items():
        if k not in _RESOLVED_OPTIONS:
            out[f"options.{k}"] = v
    if serving:  # the serve config (engine, workload arrival and lengths, slo, replicas, router, speculative, ...),
        # keyed as --set and --sweep name them (probe p221 #2: two points of a rate sweep showed no settings row)
        for k, v in _dict(report.get("config")).items():
            if k == "cost":  # how the iteration cost was estimated: its workers and cache are no setting of the run
                v = {c: x for c, x in _dict(v).items() if c not in SERVE_COST_RUNTIME}
            _flatten(out, k, v)
    return out


SERVE_COST_RUNTIME = ("workers", "cache_dir")  # a serve config's cost keys that change how fast, not what, it runs


_RESOLVED_OPTIONS = ("execution", "kernel_order")  # report keys that give these options as the run resolved them


def _unrecorded(report: dict, key: str) -> object:
    """The value of a setting ``report`` lacks: an option's default when the report records its options (it lists
    only those not at their default), else None (an older report, or a key of another report's kind)."""
    if key.startswith("options.") and isinstance(report.get("options"), dict):
        return option_defaults().get(key.removeprefix("options."))
    return None


# the fields of report.json's arch summary every report carries today (report/summary.py _arch_summary; "units" and
# "interconnect" only for an arch with them): a report whose arch lacks one was written before it
ARCH_SUMMARY_FIELDS = ("clock_hz", "cores", "chips", "dtype", "peak_macs_per_cycle", "peak_flops_per_s", "systolic",
                       "vector", "memory_bytes_per_s", "sram_bytes", "on_chip_bytes", "levels")


def _predates(report: dict, key: str) -> bool:
    """Whether ``report`` lacks the :func:`settings` key ``key`` because it was written before report.json had it:
    a field of the arch summary (:data:`ARCH_SUMMARY_FIELDS`) or a launch-mode key (``execution``,
    ``kernel_order``: every run report carries them today, report/summary.py) it lacks is an older report's
    schema, not another arch or run."""
    if key in _RESOLVED_OPTIONS:
        return not _is_serving(report) and key not in report
    parts = key.split(".")
    arch = report.get("arch")
    return (len(parts) > 1 and parts[0] == "arch" and parts[1] in ARCH_SUMMARY_FIELDS and isinstance(arch, dict)
            and parts[1] not in arch)


def _settings_table(reports: Reports) -> tuple[list[tuple[str, list[object]]], dict[str, list[str]]]:
    """:func:`differing_settings` and :func:`older_schema_settings`, from one pass over the reports."""
    kinds = {_is_serving(rep) for _, rep in reports}
    same_workload = len({_metric(rep, "workload") for _, rep in reports}) == 1 and len(kinds) == 1
    named_arch = any(not isinstance(rep.get("arch"), dict) for _, rep in reports)
    per = [settings(rep) for _, rep in reports]
    common = set.intersection(*(set(s) for s in per)) if per else set()
    mixed = len(kinds) > 1  # a serve report beside a run's: only what both record (probe p83 #6: execution and
    # kernel_order, which a serve report does not record, read as differing)
    keys = dict.fromkeys(k for s in per for k in s
                         if (same_workload or not k.startswith("workload.") or k in common)
                         and not (mixed and k not in common) and not (named_arch and k.startswith("arch.")))
    older: dict[str, list[str]] = {}
    rows = []
    for k in keys:
        lacking = [label for s, (label, rep) in zip(per, reports, strict=True) if k not in s and _predates(rep, k)]
        if lacking:  # a field an older report's schema has not: not a difference of the runs (probe p145 #2)
            older[settable_key(k)] = lacking
            continue
        values = [s[k] if k in s else _unrecorded(rep, k) for s, (_, rep) in zip(per, reports, strict=True)]
        if any(v != values[0] for v in values[1:]):
            rows.append((settable_key(k), values))
    return rows, older


def older_schema_settings(reports: Reports) -> dict[str, list[str]]:
    """The settings some reports carry and others do not because those were written before report.json had the key
    (:func:`_predates`; ``arch.core.vector.lanes``, ``arch.on_chip_bytes``, a level's capacity and latency beside a
    report from before ``arch.levels``, ``kernel_order``): ``{key: [labels of the reports that lack it]}``, each key as :func:`differing_settings` names it. :func:`differing_settings` leaves them out:
    they say which schema a report follows, not how the runs differ (probe p145 #2)."""
    return _settings_table(reports)[1]


def differing_settings(reports: Reports) -> list[tuple[str, list[object]]]:
    """The :func:`settings` whose values are not the same in every report, one ``(key, [value per report])`` each
    (an option's default where a report that records its options leaves it out, else None where a report lacks
    the key), in order of first appearance: what runs differ in (``workload.attention``: unfused / fused;
    ``arch.hbm.bandwidth`` of a ``--set``; ``arch.chips`` and ``arch.interconnect.*`` of a multi-chip
    arch beside a one-chip one; ``options.activations_on_chip``). The ``arch.`` keys whatever the arches' names (an
    arch file derived from another by ``base:`` has a name of its own); of workloads of different names only the
    keys every report has (batch, dtype, mode: a builder's own parameters are what its name already says); beside an
    ``accelsim serve`` report (whose model records its parameters, not a run's batch) only the keys every report
    has, options and launch mode included. When a report
    gives its arch as a name only (an ``accelsim serve`` report's ``"h100"``), no ``arch.`` keys: the arch row
    compares the names (probe p73 #5: each of a run report's 29 arch settings read as differing). Each key as
    ``--set`` takes it (:func:`settable_key`: ``arch.core.systolic.dataflow``, not the report's
    ``arch.systolic.dataflow``). A key a report lacks because it was written before report.json had it
    (:func:`older_schema_settings`) is not compared. Empty for one report."""
    return _settings_table(reports)[0]


# report.json's arch summary names -> the arch file's (and so --set's) field names
_ARCH_FIELDS = {"clock_hz": "clock", "capacity_bytes": "capacity", "bytes_per_s": "bandwidth", "latency_s": "latency"}


def settable_key(key: str) -> str:
    """A :func:`settings` key as ``--set`` (and a sweep axis) takes it, where the report's arch summary names it
    otherwise (probe p75 #8: ``arch.systolic.dataflow`` is ``arch.core.systolic.dataflow``): ``arch.clock_hz`` ->
    ``arch.clock``, ``arch.systolic.*``, ``arch.vector.*`` and ``arch.units`` -> ``arch.core.*``, ``arch.levels.L.capacity_bytes`` /
    ``bytes_per_s`` / ``latency_s`` -> ``arch.L.capacity`` / ``bandwidth`` / ``latency`` (``arch.levels.L.*`` for a
    level other than a preset's short forms ``l2``, ``hbm``, ``host``), ``arch.interconnect.bytes_per_s`` /
    ``latency_s`` -> ``arch.interconnect.bandwidth`` / ``latency``. A figure the arch derives (``arch.sram_bytes``,
    ``arch.peak_flops_per_s``, ...) and any other key are kept as they are."""
    parts = key.split(".")
    if parts[0] != "arch" or len(parts) < 2:
        return key
    if parts[1] in ("systolic", "units", "vector"):
        return ".".join(["arch", "core", *parts[1:]])
    if parts[1] == "levels" and len(parts) == 4:
        level = parts[2] if parts[2] in {name for name, _ in LEGACY_LEVELS} else f"levels.{parts[2]}"
        return f"arch.{level}.{_ARCH_FIELDS.get(parts[3], parts[3])}"
    if parts[1] == "interconnect" and len(parts) == 3:
        return f"arch.interconnect.{_ARCH_FIELDS.get(parts[2], parts[2])}"
    if len(parts) == 2:
        return f"arch.{_ARCH_FIELDS.get(parts[1], parts[1])}"
    return key


def format_setting(key: str, value: object) -> str:
    """A setting's value as text: clocks, sizes and bandwidths in their units, anything else as
    :func:`accelsim.report.fmt.general` writes it."""
    v = fmt.number(value) if not isinstance(value, bool) else None
    if v is not None and math.isfinite(v):
        # the report's names (units in the key) and --set's (settable_key: arch.clock, arch.hbm.bandwidth, ...)
        if key.endswith("_hz") or key == "arch.clock":
            return fmt.frequency(v)
        if "bytes_per_s" in key or (key.startswith("arch.") and key.endswith(".bandwidth")):
            return fmt.bandwidth(v)
        if key.endswith("_bytes") or (key.startswith("arch.") and key.endswith(".capacity")):
            return fmt.size(v)
        if (key.endswith("_s") and not key.endswith("_per_s")) or (key.startswith("arch.")
                                                                  and key.endswith(".latency")):
            return fmt.seconds(v)  # a latency (a rate such as FLOP/s is a number)
    return fmt.general(value)


def ratio(value: object, base: object) -> float | None:
    """``value / base`` for two finite numbers with ``base`` non-zero; None otherwise."""
    v, b = fmt.number(value), fmt.number(base)
    if v is None or b is None or b == 0 or not math.isfinite(v) or not math.isfinite(b):
        return None
    return v / b


def _check_baseline(reports: Reports, baseline: int) -> int:
    if not reports:
        raise AccelsimError("no reports to compare")
    if isinstance(baseline, bool) or not isinstance(baseline, int) or not 0 <= baseline < len(reports):
        n = len(reports)
        span = "there is one report, index 0" if n == 1 else f"the {n} reports are 0 to {n - 1}, counted from 0"
        raise AccelsimError(f"--baseline: {baseline!r} is out of range: {span}")
    return baseline


# --- output -------------------------------------------------------------------------------------------------------

def format_value(metric: str, value: object) -> str:
    """``value`` of ``metric`` as table text: counts with separators (or SI for MACs/FLOPs/params), times,
    percentages, sizes; a dash when missing."""
    if value is None:
        return DASH
    kind = _kind(metric)
    v = fmt.number(value)
    if kind == "text" or v is None:
        return str(value)
    if not math.isfinite(v):
        return str(v)
    if kind == "count":
        return fmt.si(v, digits=4) if metric in ("macs", "flops", "params") and abs(v) >= 1e6 else fmt.count(v)
    if kind == "seconds":
        return fmt.seconds(v)
    if kind == "fraction":
        return fmt.pct(v)
    if kind == "bytes":
        return fmt.size(v)
    if kind in ("joules", "watts"):
        return fmt.quantity(v, "J" if kind == "joules" else "W")
    if kind == "bandwidth":
        return fmt.bandwidth(v)
    return f"{v:.4g}"


format_ratio = fmt.ratio


def _label(metric: str, reports: Reports = ()) -> str:
    memory = _memory_split(metric)
    if memory:
        # a level's fraction is used / usable where a report's row has ``usable`` (usable_fraction < 1; a row
        # without it has usable = capacity): say so (probe p249 #3: l40s's "hbm used of capacity" 4.9 % was of the
        # 44.52GiB usable, not the 48GiB capacity)
        if memory[1] == "fraction" and any(
                fmt.number(_dict(_dict(rep.get("memory")).get(memory[0])).get("usable")) is not None
                for _, rep in reports):
            return f"{memory[0]} used of usable"
        return f"{memory[0]} {_MEMORY_PARTS[memory[1]][0]}"
    if metric == _FITS[0]:
        return _FITS[1][0]
    split = _level_split(metric)
    if split:
        return f"{_LEVEL_METRICS[split[0]][0]} {split[1]}"
    return _spec(metric, (metric, ""))[0]


def compare_table(reports: Reports, baseline: int = 0, shown: Sequence[int] | None = None,
                  widths: dict | None = None) -> Table:
    """A rich table: one row per metric of :func:`compare_rows`, one column per report (headed by its label), and
    beside each non-baseline report a ratio column: its value ÷ the baseline report's ("0.52×"; a dash when the
    baseline is 0 or either value is missing). Text metrics (workload, arch) get no ratio.

    ``shown``: the indices of the reports given columns (default: all; :func:`compare_tables` splits them);
    ``widths``: fixed column widths ({"metric": w, i: w, ("ratio", i): w}) so that text wraps and numbers fit.
    """
    base = _check_baseline(reports, baseline)
    base_label = reports[base][0]
    shown = list(range(len(reports))) if shown is None else list(shown)
    fixed = widths or {}
    table = Table(title=f"accelsim compare: {len(reports)} report{'s' if len(reports) != 1 else ''}, "
                        f"ratios to {base_label}", title_justify="left")
    table.add_column("metric", style="bold", no_wrap="metric" not in fixed, width=fixed.get("metric"),
                     overflow="fold")
    for i in shown:
        table.add_column(Text(reports[i][0]), justify="right", width=fixed.get(i), overflow="fold")
        if i != base:
            table.add_column(Text("ratio", style="dim"), justify="right", style="dim", no_wrap=True)
    for metric, values in compare_rows(reports):
        numeric = _kind(metric) != "text"
        cells: list[Text] = [Text(_label(metric, reports))]
        for i in shown:
            cells.append(Text(format_value(metric, values[i])))
            if i != base:
                cells.append(Text(format_ratio(ratio(values[i], values[base])) if numeric else ""))
        table.add_row(*cells)
        if metric == "arch":
            _add_settings(table, reports, base, shown)
    return table


METRIC_MIN_WIDTH = 14  # the metric column of a table split to fit (its labels wrap at spaces, a long key folds)
LABEL_MAX_WIDTH = 16  # a report's label wider than its numbers folds beyond this


def compare_tables(reports: Reports, baseline: int = 0, width: int | None = None) -> list[Table]:
    """:func:`compare_table`, as one table when it fits ``width`` console columns (None: any), else as several,
    each with the metric column, the baseline report's and as many other reports' (with their ratios) as fit, so
    that no number is cut: numbers (and ratios) keep their width, labels and names wrap."""
    base = _check_baseline(reports, baseline)
    if width is None:
        return [compare_table(reports, base)]
    rows = compare_rows(reports)
    numbers = [[format_value(m, v[i]) for m, v in rows if _kind(m) != "text"] for i in range(len(reports))]
    texts = [[format_value(m, v[i]) for m, v in rows if _kind(m) == "text"] for i in range(len(reports))]
    ratios = [["ratio", *(format_ratio(ratio(v[i], v[base])) for m, v in rows if _kind(m) != "text")]
              for i in range(len(reports))]
    labels = [label for label, _ in reports]
    metric_natural = max(cell_len(_label(m, reports)) for m, _ in rows) + 2  # settings rows are indented by 2
    natural = [max(cell_len(c) for c in [labels[i], *numbers[i], *texts[i]]) for i in range(len(reports))]
    value = [max([cell_len(c) for c in numbers[i]] + [min(cell_len(labels[i]), LABEL_MAX_WIDTH)])
             for i in range(len(reports))]
    ratio_w = [max(cell_len(c) for c in ratios[i]) for i in range(len(reports))]

    def cols(shown: list[int], wide: bool) -> list[int]:
        ws = [natural[i] if wide else value[i] for i in shown]
        return ws + [ratio_w[i] for i in shown if i != base]

    everyone = list(range(len(reports)))
    if table_width([metric_natural, *cols(everyone, True)]) <= width:
        return [compare_table(reports, base)]
    chunks: list[list[int]] = []
    for i in (i for i in everyone if i != base):
        if chunks and table_width([METRIC_MIN_WIDTH, *cols([base, *chunks[-1], i], False)]) <= width:
            chunks[-1].append(i)
        else:
            chunks.append([i])
    tables = []
    for chunk in chunks or [[]]:
        shown = [base, *chunk] if base < min(chunk, default=base + 1) else sorted([base, *chunk])
        left = width - table_width([0, *cols(shown, False)])
        fixed: dict = {"metric": max(METRIC_MIN_WIDTH, min(metric_natural, left))}
        fixed.update({i: value[i] for i in shown})
        tables.append(compare_table(reports, base, shown, fixed))
    return tables


DEFAULT_SETTING = "default"
"""How the table shows a workload parameter a report records as null: left at its model's default, which the builder
resolves and report.json does not record (probe p151 #5: sdxl's image_size, 1024, read as a dash beside FLUX's
1,024, as if the runs differed in it or sdxl had none)."""


def _left_default(recorded: Mapping[str, object], key: str) -> bool:
    """Whether ``key`` is a workload parameter the report (its :func:`settings`, ``recorded``) holds as null."""
    return key.startswith("workload.") and key in recorded and recorded[key] is None


def _add_settings(table: Table, reports: Reports, base: int, shown: Sequence[int]) -> None:
    """The settings the reports differ in (:func:`differing_settings`), dimmed and indented below the arch row, at
    most ``MAX_SETTING_ROWS`` of them (``--json`` lists every one)."""
    diff, older = _settings_table(reports)
    per = [settings(rep) for _, rep in reports]
    for key, values in diff[:MAX_SETTING_ROWS]:
        cells = [Text(f"  {key}", style="dim")]
        for i in shown:
            left = _left_default(per[i], key)
            cells.append(Text(DEFAULT_SETTING if left else format_setting(key, values[i]), style="dim" if left else ""))
            if i != base:
                cells.append(Text(""))
        table.add_row(*cells)
    if len(diff) > MAX_SETTING_ROWS:
        table.add_row(Text(f"  … {len(diff) - MAX_SETTING_ROWS} more settings differ (--json lists them)",
                           style="dim"))
    if older:  # one row: which schema a report follows is not a setting of its run (probe p145 #2)
        lacking = list(dict.fromkeys(label for labels in older.values() for label in labels))
        table.add_row(Text(f"  {len(older)} setting{'s' if len(older) != 1 else ''} newer than "
                           f"{', '.join(lacking)}'s schema", style="dim"))


def compare_json(reports: Reports, baseline: int = 0) -> dict:
    """The comparison as a JSON-ready dict (for ``accelsim compare --json``)::

        {"labels": [...], "baseline": LABEL,
         "settings": {KEY: {LABEL: value or null}},   # the settings the reports differ in
         "settings_not_compared": {KEY: [LABEL, ...]},  # keys those older reports' schema lacks
         "metrics": {METRIC: {LABEL: value or null}},
         "ratios": {METRIC: {LABEL: value / baseline value, or null}}}   # numeric metrics only

    Settings are those of :func:`differing_settings` (and :func:`older_schema_settings`), metrics those of
    :func:`compare_rows`, unformatted
    (fractions as fractions, times in seconds).
    """
    base = _check_baseline(reports, baseline)
    labels = [label for label, _ in reports]
    metrics: dict[str, dict[str, object]] = {}
    ratios: dict[str, dict[str, float | None]] = {}
    for metric, values in compare_rows(reports):
        metrics[metric] = dict(zip(labels, values, strict=True))
        if _kind(metric) != "text":
            ratios[metric] = {label: ratio(v, values[base]) for label, v in zip(labels, values, strict=True)}
    diff, older = _settings_table(reports)
    settings_ = {key: dict(zip(labels, values, strict=True)) for key, values in diff}
    return {"labels": labels, "baseline": labels[base], "settings": settings_, "settings_not_compared": older,
            "metrics": metrics, "ratios": ratios}
