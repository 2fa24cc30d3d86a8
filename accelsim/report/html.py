"""One self-contained HTML page of a report: key figures, utilization, memory traffic, the four plots, and every op.

The page needs nothing but a browser, offline: the CSS is inline, the plots are PNGs embedded as base64 ``data:``
URIs (drawn in memory by :mod:`accelsim.report.plots`), and the op table sorts by clicking a column header with a
few lines of inline JavaScript. Every string that comes from the report (op names come from users' files) is
HTML-escaped. Like the other writers it works on the plain report dict, so it can be rebuilt from a saved
``report.json``; nothing in the page depends on wall time, so the same report gives the same file.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from . import fmt
from .console import (
    _collective_rows,
    bandwidth_rows,
    data_parallel_rows,
    energy_rows,
    launch_rows,
    memory_rows,
    mfu_rows,
    static_only,
    unit_busy_text,
    utilization_in_order,
)
from .fmt import STALL_LABEL
from .schema import (
    chips_covered,
    core_units,
    interconnect_units,
    level_names,
    levels,
    main_memory,
    memory_levels,
    ordered,
    part_keys,
    transfer_units,
    unit_groups,
)
from .writers import atomic_write_text

HTML_FILE = "report.html"

# Plot stems in the order the page shows them, with their captions.
_PLOT_CAPTIONS = (
    ("roofline", "Roofline: each op (by kind) and the whole run against the chip's compute and main-memory roofs."),
    ("utilization", "Busy fraction of every unit and memory level, and the MAC utilization of the run."),
    ("bytes_per_level", "Bytes moved to and from each memory level."),
    ("op_cycles", "Cycles per op: compute, stall per memory level, other waiting."),
)

_CSS = """
:root { --fg: #1d232b; --muted: #5b6570; --line: #d8dde3; --head: #eef1f5; --accent: #4c72b0; --mem: #55a868; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0 auto; padding: 1.2em 2em 3em; max-width: 1500px; }
h1 { font-size: 1.5em; margin: 0 0 .2em; }
h2 { font-size: 1.15em; margin: 1.6em 0 .5em; padding-bottom: .2em; border-bottom: 2px solid var(--line); }
.sub { color: var(--muted); margin: 0 0 1em; }
.cards { display: flex; flex-wrap: wrap; gap: .8em; margin: 1em 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .5em .9em; min-width: 10em; }
.card .v { font-size: 1.35em; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .k { color: var(--muted); font-size: .85em; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1.2em 2em;
        align-items: start; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: .22em .6em; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; }
td.n, th.n { text-align: right; white-space: nowrap; }
table.kv th { background: none; white-space: nowrap; }
table.kv td { word-break: break-word; }
.scroll { max-height: 24em; overflow: auto; border: 1px solid var(--line); }
.scroll.tall { max-height: 75vh; }
.scroll table { width: 100%; }
.scroll thead th { position: sticky; top: 0; z-index: 1; }
.bar { display: inline-block; height: .7em; background: var(--accent); vertical-align: middle; margin-right: .4em; }
.bar.mem { background: var(--mem); }
.bar-cell { white-space: nowrap; min-width: 14em; }
table.sortable thead th { cursor: pointer; user-select: none; white-space: nowrap; }
table.sortable thead th:hover { background: #e1e6ee; }
table.sortable thead th[aria-sort=ascending]::after { content: " \\25B2"; font-size: .75em; }
table.sortable thead th[aria-sort=descending]::after { content: " \\25BC"; font-size: .75em; }
table.ops td { white-space: nowrap; }
table.ops td.name { max-width: 28em; overflow: hidden; text-overflow: ellipsis; }
tbody tr:hover { background: #f6f8fb; }
.b-memory { color: #b5542b; } .b-compute { color: #2f5d9e; } .b-none { color: var(--muted); }
figure { margin: 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figure.wide { grid-column: 1 / -1; }
figcaption { color: var(--muted); font-size: .85em; margin-top: .2em; }
.note { color: var(--muted); }
.warn { color: #a33; }
footer { margin-top: 2.5em; color: var(--muted); font-size: .85em; }
"""

# Click a header to sort by it (again to reverse). Cells sort by their data-v attribute when they have one (the raw
# number behind "1,234" or "1.5MiB"), else by their text; numbers compare as numbers, text naturally ("op2" <
# "op10"), empty values go last either way, and ties keep their order.
_JS = """
(function () {
  function key(cell) {
    var v = cell.getAttribute("data-v");
    if (v === null) v = cell.textContent.trim();
    if (v === "" || v === "\\u2014") return null;
    var n = Number(v);
    return isNaN(n) ? v.toLowerCase() : n;
  }
  function cmp(a, b) {
    var na = typeof a === "number", nb = typeof b === "number";
    if (na && nb) return a < b ? -1 : a > b ? 1 : 0;
    if (na !== nb) return na ? -1 : 1;
    return a.localeCompare(b, undefined, {numeric: true});
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      function sort() {
        var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        var body = table.tBodies[0], frag = document.createDocumentFragment();
        var rows = Array.prototype.map.call(body.rows, function (r, i) { return [key(r.cells[col]), i, r]; });
        rows.sort(function (a, b) {
          if (a[0] === null || b[0] === null) return (a[0] === null) - (b[0] === null) || a[1] - b[1];
          return dir * cmp(a[0], b[0]) || a[1] - b[1];
        });
        rows.forEach(function (r) { frag.appendChild(r[2]); });
        body.appendChild(frag);
      }
      th.tabIndex = 0;
      th.title = "sort by this column";
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
    });
  });
})();
"""


# --- values -------------------------------------------------------------------------------------------------------

def _e(value: object) -> str:
    """``value`` as HTML text, escaped (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _data_v(value: object) -> str:
    """The raw number a sortable cell sorts by ("" for null: sorted last)."""
    v = fmt.num(value, None)
    if v is None or math.isnan(v):
        return ""
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return repr(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


# --- page parts ---------------------------------------------------------------------------------------------------

def _kv_table(rows: list[tuple[str, str]], cls: str = "kv") -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="{cls}"><tbody>{body}</tbody></table>'


def _summary(report: dict) -> str:
    lv = levels(report)
    rows = [
        ("workload", fmt.workload_text(report.get("workload"))),
        ("arch", fmt.arch_text(report.get("arch"), lv, report.get("clock_hz"))),
        ("total cycles", fmt.count(report.get("total_cycles"))),
        ("time", fmt.seconds(report.get("seconds"))),
        *launch_rows(report),
        # a training step's replicas and global batch, and a run's collectives, as the console's summary gives them
        # (probe p108 #2: the page had neither, nor the MFU)
        *data_parallel_rows(report),
        *memory_rows(report),  # a training step's footprint (probe p134 #2)
        *_collective_rows(report),
        ("MACs", fmt.count_si(report.get("macs"))),
        ("FLOPs", fmt.count_si(report.get("flops"))),
        ("params", fmt.count_si(report.get("params"))),
        ("MAC utilization", fmt.pct(report.get("mac_utilization"))),
        *mfu_rows(report),
    ]
    # the FLOPs the kernels computed (a causal fused attention's skipped blocks left out), so never above the peak
    flops = fmt.num(report.get("computed_flops", report.get("flops")), None)
    secs = fmt.num(report.get("seconds"), None)
    chips = chips_covered(report)  # a pipeline's FLOPs are its P chips': a chip's rate, against a chip's roof
    if flops is not None and secs:
        rows.append(("achieved" + (f" (a chip of {chips})" if chips > 1 else ""), fmt.flops_rate(flops / secs / chips)))
    roof = _dict(report.get("roofline"))
    peak, bw = fmt.num(roof.get("peak_flops_per_s"), None), fmt.num(roof.get("bandwidth_bytes_per_s"), None)
    ridge = fmt.num(roof.get("ridge_flops_per_byte"), None)
    if peak or bw:
        main = main_memory(report) or "memory"
        bits = [f"{fmt.flops_rate(peak)} peak" if peak else "", f"{fmt.bandwidth(bw)} {main}" if bw else "",
                f"ridge {ridge:.4g} FLOP/B" if ridge else ""]
        rows.append(("roofline", ", ".join(b for b in bits if b)))
    rows.append((STALL_LABEL, fmt.count(report.get("stall_cycles"))))
    stalls, moved = _dict(report.get("stalls_by_level")), _dict(report.get("bytes"))
    rows.extend((f"stall {level}", fmt.count(stalls[level])) for level in ordered(stalls, report))
    rows.extend((f"bytes {level}", fmt.size(moved[level])) for level in ordered(moved, report))
    # the share of each level's bandwidth used, beside its busy fraction (probe p73 #3: only the console had it)
    rows.extend((f"bandwidth {level}", text) for level, text in bandwidth_rows(report))
    sim = _dict(report.get("simulation"))
    if sim:
        rows.append(("simulation", ", ".join(f"{fmt.count(v)} {k}" for k, v in sim.items())))
    return _kv_table(rows)


def _cards(report: dict) -> str:
    """The headline figures, then one card of bytes moved per memory level that moved any."""
    cards = [
        ("total cycles", fmt.count(report.get("total_cycles"))),
        ("time", fmt.seconds(report.get("seconds"))),
        ("MAC utilization", fmt.pct(report.get("mac_utilization"))),
        *([("MFU", fmt.pct(report["mfu"]))] if report.get("mfu") is not None else []),
        (STALL_LABEL, fmt.count(report.get("stall_cycles"))),
    ]
    moved = _dict(report.get("bytes"))
    for level in memory_levels(report):
        if fmt.num(moved.get(level)):
            cards.append((f"{level} bytes", fmt.size(moved[level])))
    if report.get("energy"):
        cards += [("energy", fmt.joules(_dict(report["energy"]).get("total_j"))),
                  ("average power", fmt.watts(_dict(report.get("power")).get("average_w")))]
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="v">{_e(v)}</div><div class="k">{_e(k)}</div></div>' for k, v in cards
    ) + "</div>"


def _utilization(report: dict) -> str:
    util = utilization_in_order(report)  # compute units, then the levels innermost first (probe p221 #4)
    if not util:
        return '<p class="note">No utilization figures in this report.</p>'
    rows = []
    mac = fmt.num(report.get("mac_utilization"), None)
    # one row per kind of unit, as the console's summary (the units of a group are identical; report.json has each)
    items = ([("MAC utilization", mac, "of peak MACs", fmt.pct(mac))] if mac is not None else [])
    for label, members in unit_groups(util).items():
        values = [v for _, v in members]
        mean = sum(fmt.num(v) for v in values) / len(values) if len(values) > 1 else fmt.num(values[0], None)
        items.append((label if len(values) == 1 else f"{label} ({len(values)})", mean,
                      _unit_kind(report, members[0][0]), unit_busy_text(values)))
    for label, v, kind, text in items:
        width = 0.0 if v is None or not math.isfinite(v) else max(0.0, min(100.0, 100 * v))
        bar = f'<span class="bar{" mem" if kind in ("memory", "interconnect") else ""}" style="width:{width * 1.2:.1f}px"></span>'
        rows.append(f"<tr><td>{_e(label)}</td><td>{kind}</td>"
                    f'<td class="n bar-cell" data-v="{_data_v(v)}">{bar}{_e(text)}</td></tr>')
    return ('<div class="scroll"><table class="sortable"><thead><tr><th>unit</th><th>kind</th>'
            '<th class="n">busy</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table></div>")


def _unit_kind(report: dict, unit: str) -> str:
    """What a utilization entry is: ``compute`` (a core's unit), ``memory`` (a level of the chip), ``interconnect``
    (the chips' link, a NIC: off chip, holding no tensor, schema.interconnect_units), or ``host CPU`` (``launch``:
    the host issuing the kernels, whose busy share is the run's launch-bound time, not the chip's compute: probe
    p59 finding 7; not the ``host`` memory level, a ``memory``)."""
    if core_units({"utilization": {unit: 0.0}}):
        return "compute"
    if unit in interconnect_units(report):
        return "interconnect"
    return "memory" if unit in transfer_units(report) else "host CPU"


def _memory(report: dict) -> str:
    moved, stalls = _dict(report.get("bytes")), _dict(report.get("stalls_by_level"))
    names = ordered([*level_names(report), *moved, *stalls], report)
    if not names:
        return '<p class="note">No memory traffic in this report.</p>'
    util, shares = _dict(report.get("utilization")), _dict(report.get("bandwidth_share"))
    total_stall = fmt.num(report.get("stall_cycles"), None) or sum(fmt.num(v) for v in stalls.values())
    rows = []
    for level in names:
        s = fmt.num(stalls.get(level), None)
        share = s / total_stall if s is not None and total_stall else None
        rows.append(f"<tr><td>{_e(level)}</td>"
                    f'<td class="n" data-v="{_data_v(moved.get(level))}">{_e(fmt.size(moved.get(level)))}</td>'
                    f'<td class="n" data-v="{_data_v(s)}">{_e(fmt.count(s))}</td>'
                    f'<td class="n" data-v="{_data_v(share)}">{_e(fmt.pct(share))}</td>'
                    f'<td class="n" data-v="{_data_v(util.get(level))}">{_e(fmt.pct(util.get(level)))}</td>'
                    + (f'<td class="n" data-v="{_data_v(shares.get(level))}">{_e(fmt.pct(shares.get(level)))}</td>'
                       if shares else "") + "</tr>")
    # a composed (pipeline) report has no bandwidth_share: no column then
    return ('<table class="sortable"><thead><tr><th>level</th><th class="n">bytes moved</th>'
            '<th class="n">stall cycles</th><th class="n">share of stalls</th><th class="n">busy</th>'
            + ('<th class="n">bandwidth used</th>' if shares else "") + "</tr></thead>"
            "<tbody>" + "".join(rows) + "</tbody></table>")


def _bars(title: str, parts: Mapping[str, object], render: Callable[[object], str], kind: str) -> str:
    """A table of ``parts`` (name → value) with a bar per row scaled to the largest and its share of the sum."""
    values = {str(k): fmt.num(v, None) for k, v in parts.items()}
    total = sum(v for v in values.values() if v is not None and math.isfinite(v))
    top = max((v for v in values.values() if v is not None and math.isfinite(v)), default=0.0)
    rows = []
    for name, v in values.items():
        width = 100 * v / top if v is not None and math.isfinite(v) and top > 0 else 0.0
        share = v / total if v is not None and total else None
        bar = f'<span class="bar{" mem" if kind == "memory" else ""}" style="width:{width * 1.2:.1f}px"></span>'
        rows.append(f'<tr><td>{_e(name)}</td><td class="n bar-cell" data-v="{_data_v(v)}">{bar}{_e(render(v))}'
                    f'</td><td class="n" data-v="{_data_v(share)}">{_e(fmt.pct(share))}</td></tr>')
    return (f'<h3>{_e(title)}</h3><table class="sortable"><thead><tr><th>part</th><th class="n">value</th>'
            '<th class="n">share</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


def _energy(report: dict) -> str:
    """The energy, power and area section: key figures, the energy breakdown by level, unit and op kind, and the
    area breakdown (none when the report's arch gave no energy constants)."""
    energy, area = _dict(report.get("energy")), _dict(report.get("area"))
    if not energy:
        return ""
    def label(kind: str, name: str) -> str:  # "host (level, static)": static energy alone (probe p142 #6)
        return f"{name} ({kind}{', static' if static_only(energy, kind, name) else ''})"

    by_part = {**{label("level", k): v for k, v in _dict(energy.get("by_level")).items()},
               **{k if k == "activity" else label("unit", k): v for k, v in _dict(energy.get("by_unit")).items()},
               "other": energy.get("other_j")}
    mm2 = {**_dict(area.get("units")), **_dict(area.get("levels")), "other": area.get("other_mm2")}
    return ('<section id="energy"><h2>Energy, power and area</h2><div class="grid"><div>'
            + _kv_table(energy_rows(report))
            + _bars("Energy by op kind (dynamic)", _dict(energy.get("by_op_kind")), fmt.joules, "compute")
            + "</div><div>" + _bars("Energy by part (dynamic, activity and static)", by_part, fmt.joules, "memory")
            + (_bars("Area", mm2, fmt.mm2, "compute") if area else "") + "</div></div></section>")


SHOWN = 10  # a list of the serving section longer than 2 × SHOWN (step_cycles: one value a decode step) shows its
# first and last SHOWN values and its length; report.json holds every one (5,000,000 decode steps made 76 MB of HTML)


def _serving_value(key: str, value: object) -> str:
    if isinstance(value, list) and len(value) > 2 * SHOWN:
        return (f"{fmt.general(value[:SHOWN])}, …, {fmt.general(value[-SHOWN:])} ({len(value):,} values, all in "
                f"report.json)")
    v = fmt.num(value, None)
    if v is None:
        return fmt.general(value)
    k = key.lower()
    if k.endswith("_per_s") or k.endswith("_per_second"):
        what = k.rsplit("_per_s", 1)[0].replace("_", " ")
        return f"{v:,.0f} {what}/s" if abs(v) >= 1000 else f"{v:.4g} {what}/s"
    if k.endswith("_bytes") or k == "bytes":
        return fmt.size(v)
    if k.endswith("_s") or k.endswith("_seconds"):
        return fmt.seconds(v)
    if k.endswith("_cycles"):
        return fmt.count(v)
    if k.endswith("utilization") or k.endswith("_fraction") or k.endswith("_share"):
        return fmt.pct(v)
    return fmt.general(value)


def _flatten(prefix: str, value: object, out: list[tuple[str, object]]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out.append((prefix, value))


def _flat_section(report: dict, key: str, title: str, times: frozenset[str] = frozenset()) -> str:
    """A report object (``pipeline``) as one row per leaf, each formatted by its key (:func:`_serving_value`); a
    leaf whose dotted path is in ``times`` (a setting read as a time, whose key has no ``_s``) as a time."""
    section = report.get(key)
    if section is None or section == {} or section == []:
        return ""
    items: list[tuple[str, object]] = []
    _flatten("", section, items)
    rows = [(k or key, fmt.seconds(v) if k in times and fmt.number(v) is not None
             else _serving_value(k.rsplit(".", 1)[-1], v)) for k, v in items]
    return f'<section id="{key}"><h2>{title}</h2>' + _kv_table(rows) + "</section>"


_SERVING_KEYS = frozenset({"batch", "prefill_cycles", "decode_steps", "decode_steps_simulated", "decode_cycles",
                           "step_cycles", "ttft_s", "tpot_s", "tokens_per_s", "kv_cache_bytes", "state_bytes",
                           "weight_bytes", "memory", "memory_pass", "layer_samples"})
"""The keys of report ``serving`` that :func:`_serving` lays out; any other is shown as a row of its own."""


def _footprint(memory: dict, title: str) -> str:
    """A memory footprint (level → capacity, what of it is usable where a row says, weights, KV cache, a model with
    recurrent layers' states, activations, used, fraction) as a table: sizes in KiB/MiB/GiB, the used share of the
    usable bytes (the capacity where the arch keeps none back: hbm.usable_fraction) in %."""
    states = any("state" in _dict(fig) for fig in memory.values())
    usable = any("usable" in _dict(fig) for fig in memory.values())
    cols = (("capacity", "capacity"), *((("usable", "usable"),) if usable else ()), ("weights", "weights"),
            ("kv_cache", "KV cache"), *((("state", "recurrent state"),) if states else ()),
            ("activations", "activations"), ("used", "used"))
    rows = []
    for level, fig in memory.items():
        fig = _dict(fig)
        cells = "".join(f'<td class="n" data-v="{_data_v(fig.get(k))}">{_e(fmt.size(fig.get(k)))}</td>'
                        for k, _ in cols)
        rows.append(f"<tr><td>{_e(level)}</td>{cells}<td class=\"n\" data-v=\"{_data_v(fig.get('fraction'))}\">"
                    f"{_e(fmt.pct(fig.get('fraction')))}</td></tr>")
    head = "".join(f'<th class="n">{label}</th>' for _, label in cols)
    return (f"<h3>{_e(title)}</h3><table><thead><tr><th>level</th>{head}<th class=\"n\">used of {'usable' if usable else 'capacity'}</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _layer_samples_row(samples: object, simulated: str) -> tuple[str, str]:
    """The "layer samples" row of a composed run's section: every layer simulated, or the sampled layer counts
    (``simulated``: what was simulated and whose layers were extrapolated from them)."""
    if not samples:
        return "layer samples", "every layer simulated"
    counts = " and ".join(str(n) for n in samples)  # type: ignore[union-attr]
    return "layer samples", f"{counts} {simulated} layers extrapolated from them"


def _serving(report: dict) -> str:
    """An LLM serving run's figures (report ``serving``): time to first token, time per output token, tokens per
    second, the decode steps (how many simulated, every step's cycles), the weights, KV cache and recurrent state
    where the memory table does not already add up to them, layer samples, and the memory footprint of the pass ``memory_pass``
    names as a table. Sizes in KiB/MiB/GiB, fractions in %, each quantity once."""
    sv = report.get("serving")
    if not isinstance(sv, dict) or not sv:
        return ""
    steps = int(fmt.num(sv.get("decode_steps")) or 0)
    simulated = sv.get("decode_steps_simulated") or []
    memory = _dict(sv.get("memory"))
    # an MoE's expert-parallel ranks each decode a batch of their own: said only where there are some (probe p95 #6,
    # as console._serving_rows)
    ranks = _dict(_dict(report.get("workload")).get("params")).get("expert_parallel")
    ep = (", × expert-parallel ranks, each with a batch of its own" if isinstance(ranks, int)
          and not isinstance(ranks, bool) and ranks > 1 else "")
    rows = [("batch", fmt.general(sv.get("batch"))),
            ("time to first token (TTFT)", f"{fmt.seconds(sv.get('ttft_s'))} (the prefill: "
                                           f"{fmt.count(sv.get('prefill_cycles'))} cycles)"
             if fmt.number(sv.get("ttft_s")) is not None else "none (no prefill: phase decode)"),
            ("time per output token (TPOT)", f"{fmt.seconds(sv.get('tpot_s'))} (the mean of {steps:,} decode steps: "
                                             f"{fmt.count(sv.get('decode_cycles'))} cycles in all)"),
            ("tokens per second", f"{_serving_value('tokens_per_s', sv.get('tokens_per_s'))} (batch × decode steps "
                                  f"/ decode time{ep})")]
    if isinstance(simulated, list) and simulated and len(simulated) < steps:
        rows.append(("decode steps simulated", f"{len(simulated):,} of {steps:,} (steps "
                                               f"{_serving_value('', [i + 1 for i in simulated])}), the others "
                                               f"interpolated"))
    elif simulated:
        rows.append(("decode steps simulated", f"all {steps:,}"))
    if sv.get("step_cycles") is not None:
        rows.append(("cycles of each decode step", _serving_value("step_cycles", sv.get("step_cycles"))))
    for key, field, label in (("weight_bytes", "weights", "weights"), ("kv_cache_bytes", "kv_cache", "KV cache"),
                              ("state_bytes", "state", "recurrent state")):
        held = sum(fmt.num(_dict(m).get(field)) for m in memory.values())
        if sv.get(key) is not None and (not memory or held != fmt.num(sv.get(key))):
            rows.append((label, fmt.size(sv.get(key))))
    if "layer_samples" in sv:
        rows.append(_layer_samples_row(sv.get("layer_samples"), "layers simulated, the model's"))
    rows.extend((k, _serving_value(k, v)) for k, v in sv.items() if k not in _SERVING_KEYS)
    table = _footprint(memory, f"Memory footprint ({sv.get('memory_pass') or 'the last pass'})") if memory else ""
    return '<section id="serving"><h2>LLM serving</h2><div class="grid"><div>' + _kv_table(rows) + (
        f"</div><div>{table}</div></div></section>")


_PIPELINE_KEYS = frozenset({"stages", "micro_batches", "interleave", "bottleneck_stage", "iteration_s", "bubble_s",
                            "bubble_fraction", "optimizer_s", "grad_reduce_s", "optimizer_step_s", "p2p_s",
                            "p2p_transfers", "p2p_sends_total", "p2p_bytes_total", "embedding_sync_s",
                            "forward_end_s", "backward_end_s", "stage_times", "layer_samples"})
"""The keys of report ``pipeline`` that :func:`_pipeline` lays out; any other is shown as a row of its own."""


def _all_sends(pl: dict) -> str:
    """The activation sends row's tail: every send of the step and their bytes, where the report gives them."""
    if "p2p_sends_total" not in pl:
        return ""
    size = fmt.size(pl.get("p2p_bytes_total"))
    if pl.get("p2p_sends_total") == pl.get("p2p_transfers"):  # one micro-batch: its path is every send
        return f"; every send of the step, {size}"
    return f"; {fmt.general(pl.get('p2p_sends_total'))} in the step, {size}, the rest overlapped"


def _pipeline(report: dict) -> str:
    """A pipeline-parallel run's figures (report ``pipeline``): its stages, micro-batches and interleave, the
    iteration and the parts it adds up to (the bubble with its share, the optimizer step, the activation sends, the
    embedding all-reduce), layer samples, and a table of the stages (one micro-batch's time, the optimizer step, the
    micro-batches in flight, the main memory used and its share of the capacity). Times in ms/us, fractions in %,
    sizes in KiB/MiB/GiB, each quantity once."""
    pl = report.get("pipeline")
    if not isinstance(pl, dict) or not pl:
        return ""
    sends = pl.get("p2p_transfers")
    rows = [("stages", f"{fmt.general(pl.get('stages'))} (the slowest: stage {fmt.general(pl.get('bottleneck_stage'))})"),
            ("micro-batches", fmt.general(pl.get("micro_batches"))),
            ("interleave", f"{fmt.general(pl.get('interleave'))} (model chunks per chip)"),
            ("iteration", fmt.seconds(pl.get("iteration_s"))),
            ("bubble", f"{fmt.seconds(pl.get('bubble_s'))} ({fmt.pct(pl.get('bubble_fraction'))} of the iteration)"),
            ("optimizer tail", f"{fmt.seconds(pl.get('optimizer_s'))} (the slowest stage's" + (
                f": gradient reduction {fmt.seconds(pl.get('grad_reduce_s'))}, optimizer step "
                f"{fmt.seconds(pl.get('optimizer_step_s'))})" if "grad_reduce_s" in pl else ")")),
            ("activation sends", f"{fmt.seconds(pl.get('p2p_s'))} (the {fmt.general(sends)} "
                                 f"send{'' if sends == 1 else 's'} the fill and drain wait for" + _all_sends(pl) + ")")]
    if pl.get("embedding_sync_s"):
        rows.append(("embedding gradient all-reduce", fmt.seconds(pl.get("embedding_sync_s"))))
    if "backward_end_s" in pl:  # a training iteration: its timeline's ends
        rows.append(("last forward ends / gradients ready", f"{fmt.seconds(pl.get('forward_end_s'))} / "
                                                           f"{fmt.seconds(pl.get('backward_end_s'))}"))
    if "layer_samples" in pl:
        rows.append(_layer_samples_row(pl.get("layer_samples"), "layers a stage simulated, its"))
    rows.extend((k, _serving_value(k, v)) for k, v in pl.items() if k not in _PIPELINE_KEYS)
    main = next(iter(_dict(report.get("memory"))), "main memory")
    cells = (("micro_batch_s", fmt.seconds), ("optimizer_s", fmt.seconds),
             ("activations_in_flight", fmt.general), ("hbm_used_bytes", fmt.size), ("hbm_fraction", fmt.pct))
    body = "".join(
        f"<tr><td>{_e(fmt.general(st.get('stage')))}</td>"
        + "".join(f'<td class="n" data-v="{_data_v(st.get(k))}">{_e(render(st.get(k)))}</td>' for k, render in cells)
        + "</tr>" for st in map(_dict, pl.get("stage_times") or []))
    of = "usable" if "usable" in _dict(_dict(report.get("memory")).get(main)) else "capacity"  # hbm_fraction's base
    head = "".join(f'<th class="n">{_e(label)}</th>' for label in (
        "one micro-batch", "optimizer step", "micro-batches in flight", f"{main} used", f"used of {of}"))
    table = (f"<h3>Stages</h3><table><thead><tr><th>stage</th>{head}</tr></thead><tbody>{body}</tbody></table>"
             if body else "")
    return ('<section id="pipeline"><h2>Pipeline parallelism</h2><div class="grid"><div>' + _kv_table(rows)
            + f"</div><div>{table}</div></div></section>")


_PHASES = ("forward", "backward", "optimizer", "grad_reduce")
"""Training phases in the order of a step (report ``phases``); any other a report has follows them."""


def _training(report: dict) -> str:
    """A training step's phases (report ``phases``, what they cover ``phases_scope``): a row per phase with its span
    on the timeline (first start to last end, in cycles and at the clock), its ops' busy cycles (the gradient
    reduction's: the link's), its ops and, for the reduction, the bytes each chip sends. The phases can overlap
    (the reduction runs beside the backward pass), so their spans need not add up to the step."""
    phases = _dict(report.get("phases"))
    if not phases:
        return ""
    clock = fmt.num(report.get("clock_hz"), None)
    names = [*(p for p in _PHASES if p in phases), *(p for p in phases if p not in _PHASES)]
    links = any("link_bytes" in _dict(phases[p]) for p in names)
    heads = ("start cycle", "end cycle", "span (cycles)", "span", "busy cycles", "ops",
             *(("link bytes sent per chip",) if links else ()))
    rows = []
    for name in names:
        ph = _dict(phases[name])
        span = fmt.num(ph.get("cycles"), None)
        secs = span / clock if span is not None and clock else None
        cells = ((ph.get("start_cycle"), fmt.count(ph.get("start_cycle"))),
                 (ph.get("end_cycle"), fmt.count(ph.get("end_cycle"))), (span, fmt.count(span)),
                 (secs, fmt.seconds(secs)), (ph.get("compute_cycles"), fmt.count(ph.get("compute_cycles"))),
                 (ph.get("ops"), fmt.count(ph.get("ops"))),
                 *(((ph.get("link_bytes"), fmt.size(ph.get("link_bytes")) if "link_bytes" in ph else fmt.DASH),)
                   if links else ()))
        rows.append(f"<tr><td>{_e(name)}</td>"
                    + "".join(f'<td class="n" data-v="{_data_v(v)}">{_e(t)}</td>' for v, t in cells) + "</tr>")
    scope = report.get("phases_scope")
    note = ('<p class="note">Each phase spans its ops\' first start to their last end; phases can overlap (the '
            "gradient reduction runs beside the backward pass). busy cycles: the phase's ops' compute cycles "
            "summed (the gradient reduction's: the link's busy cycles)."
            + (f" The phases cover {_e(scope)}." if scope else "") + "</p>")
    head = "".join(f'<th class="n">{_e(h)}</th>' for h in heads)
    return ('<section id="training"><h2>Training step</h2>' + note
            + f"<table class=\"sortable\"><thead><tr><th>phase</th>{head}</tr></thead><tbody>{''.join(rows)}"
            "</tbody></table></section>")


def _notes(report: dict) -> str:
    """Report ``notes``, one item each, as the console prints them (``note: ...``)."""
    notes = [n for n in report.get("notes") or [] if n]
    if not notes:
        return ""
    return ('<section id="notes"><h2>Notes</h2><ul class="notes">'
            + "".join(f"<li>note: {_e(n)}</li>" for n in notes) + "</ul></section>")


def _diffusion(report: dict) -> str:
    """A diffusion pipeline's figures: seconds per image, images per second and a row per part (its count, one
    execution's time, all of them, its parameters)."""
    d = report.get("diffusion")
    if not isinstance(d, dict) or not d:
        return ""
    rows = [("batch", fmt.general(d.get("batch"))), ("seconds per image", fmt.seconds(d.get("seconds_per_image"))),
            ("images per second", fmt.general(d.get("images_per_s")))]
    for part in d.get("parts") or []:
        if isinstance(part, dict):
            rows.append((f"part {part.get('part')}", f"{part.get('count')} × {fmt.seconds(part.get('seconds'))} = "
                                                     f"{fmt.seconds(part.get('total_seconds'))}, "
                                                     f"{fmt.count(part.get('params'))} params"))
    return '<section id="diffusion"><h2>Diffusion pipeline</h2>' + _kv_table(rows) + "</section>"


def _png_data_uris(report: dict, images: Mapping[str, bytes] | None) -> dict[str, tuple[str, bool]]:
    """Each plot stem → (``data:`` URI of its PNG, True), or (the one-line error that stopped it, False).

    ``images`` holds PNGs already drawn (stem → bytes); the others are drawn here."""
    from .plots import PLOTS

    uris = {}
    for stem, plot in PLOTS.items():
        if images and stem in images:
            uris[stem] = ("data:image/png;base64," + base64.b64encode(images[stem]).decode("ascii"), True)
            continue
        buf = io.BytesIO()
        try:
            plot(report, buf)
        except Exception as e:  # a figure that cannot be drawn must not lose the rest of the page
            uris[stem] = ((f"{type(e).__name__}: {e}".splitlines() or [""])[0], False)
            continue
        uris[stem] = ("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), True)
    return uris


def _plots(report: dict, images: Mapping[str, bytes] | None) -> str:
    uris = _png_data_uris(report, images)
    parts = []
    for stem, caption in _PLOT_CAPTIONS:
        if stem not in uris:
            continue
        text, ok = uris[stem]
        cls = ' class="wide"' if stem == "op_cycles" else ""
        if ok:
            parts.append(f'<figure{cls}><img alt="{_e(stem)}" src="{text}"><figcaption>{_e(caption)}</figcaption>'
                         "</figure>")
        else:
            parts.append(f'<figure{cls}><p class="warn">{_e(stem)} plot could not be drawn: {_e(text)}</p></figure>')
    return '<div class="grid">' + "".join(parts) + "</div>"


def _op_levels(report: dict, ops: list[dict]) -> list[str]:
    """Memory levels for the per-op bytes columns: the report's, innermost first, then any others the ops name."""
    return ordered([*level_names(report), *_dict(report.get("bytes")),
                    *(str(k) for op in ops for k in _dict(op.get("bytes")))], report)


def _ring(op: dict) -> str:
    """An op's fold in a context-parallel ring: "×r" (its mapping's ring_repeat), "in <op>" (ring_folded_into)
    or ""."""
    m = _dict(op.get("mapping"))
    if m.get("ring_repeat"):
        return f"×{m['ring_repeat']}"
    return f"in {m['ring_folded_into']}" if m.get("ring_folded_into") else ""


def _ops_table(report: dict) -> str:
    ops = report.get("ops")
    ops = [op for op in ops if isinstance(op, dict)] if isinstance(ops, list) else []
    if not ops:
        return '<p class="note">No ops in this report.</p>'
    op_levels = _op_levels(report, ops)
    with_energy = bool(report.get("energy"))
    # a composed report's rows (serving, pipeline) say their phase or stage and how many executions they count
    parts = part_keys(ops)
    runs = "count" in parts
    parts = [k for k in parts if k != "count"]
    # a folded context-parallel ring (mapping/ring.py): the ring steps a row stands for, or the row standing for it
    ring = any(_ring(op) for op in ops)
    heads = ["#", "name", *parts, *(["runs"] if runs else []), "kind", "unit", "core", "MACs", "start", "end",
             "duration", *(["ring"] if ring else []), "compute", "stall", *(f"bytes {lvl}" for lvl in op_levels), "FLOP/B", "roofline",
             *(["energy"] if with_energy else [])]
    numeric = {"#", "stage", "runs", "core", "MACs", "start", "end", "duration", "compute", "stall", "FLOP/B",
               "energy", *(f"bytes {lvl}" for lvl in op_levels)}
    head = "".join(('<th class="n">' if h in numeric else "<th>") + f"{_e(h)}</th>" for h in heads)

    def num(value: object, text: str) -> str:
        return f'<td class="n" data-v="{_data_v(value)}">{_e(text)}</td>'

    rows = []
    for i, op in enumerate(ops):
        start, end = fmt.num(op.get("start_cycle"), None), fmt.num(op.get("end_cycle"), None)
        duration = end - start if start is not None and end is not None else None
        op_bytes = _dict(op.get("bytes"))
        ai = fmt.num(op.get("arithmetic_intensity"), None)
        bound = op.get("bound")
        name = "" if op.get("name") is None else str(op.get("name"))
        cells = [
            num(i, str(i)),
            f'<td class="name" title="{_e(name)}">{_e(name)}</td>',
            *(f"<td>{_e(fmt.general(op.get(k)))}</td>" if k == "phase" else num(op.get(k), fmt.general(op.get(k)))
              for k in parts),
            *([num(op.get("count"), fmt.count(op.get("count")))] if runs else []),
            f"<td>{_e(fmt.general(op.get('kind')))}</td>",
            f"<td>{_e(fmt.general(op.get('unit')))}</td>",
            num(op.get("core"), fmt.count(op.get("core"))),
            num(op.get("macs"), fmt.count(op.get("macs"))),
            num(start, fmt.count(start)),
            num(end, fmt.count(end)),
            num(duration, fmt.count(duration)),
            *([f"<td>{_e(_ring(op))}</td>"] if ring else []),
            num(op.get("compute_cycles"), fmt.count(op.get("compute_cycles"))),
            num(op.get("stall_cycles"), fmt.count(op.get("stall_cycles"))),
            *(num(op_bytes.get(lvl, 0), fmt.size(op_bytes.get(lvl, 0))) for lvl in op_levels),
            num(ai, fmt.DASH if ai is None else f"{ai:.4g}"),
            f'<td class="b-{_e(bound)}">{_e(bound)}</td>' if bound is not None else f"<td>{fmt.DASH}</td>",
            *([num(op.get("energy_j"), fmt.joules(op.get("energy_j")))] if with_energy else []),
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<p class="note">{len(ops):,} ops in execution order; click a column header to sort (again to '
            "reverse). Cycles are absolute; duration = end − start; compute is the busiest unit's cycles of one "
            "execution, stall the cycles its units waited for data, summed over its units (a GPU's SMs) and "
            "executions (runs: the executions a row of a serving run or pipeline stands for; its MACs and bytes "
            "are their sums); FLOP/B is FLOPs per off-chip byte." + (
                " ring: a folded context-parallel ring's row standing for r steps (its duration is theirs, its MACs "
                "and bytes one step's) or the row a step is folded into (it ends with that row)." if ring else "")
            + "</p>"
            '<div class="scroll tall"><table id="ops" class="sortable ops">'
            f"<thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>")


# --- public -------------------------------------------------------------------------------------------------------

def render_html(report: dict, *, plots: bool = True, images: Mapping[str, bytes] | None = None) -> str:
    """The HTML page of ``report`` (a report.json dict) as one self-contained string.

    Sections: key figures (with a training step's MFU), the report's ``notes`` (as the console prints them), summary
    (with the console's launch-bound, data-parallel, collective-ops and MFU rows), utilization per unit, memory levels (bytes, stalls), LLM serving metrics (only when the report
    has a ``serving`` object: a table of its figures and its memory footprint), pipeline parallelism (a ``pipeline``
    object: its figures and a table of its stages), the training step's phases (a ``phases`` object), the four plots as embedded PNGs (left out with ``plots=False``;
    a plot that fails to draw is replaced by a one-line note; ``images`` passes PNGs already drawn, by stem), and a
    sortable table of every op. Missing keys and
    null values show as a dash; unknown keys are ignored.
    """
    if not isinstance(report, dict):
        raise TypeError(f"render_html expects a report dict, got {type(report).__name__}")
    name = report.get("name") or _dict(report.get("workload")).get("name") or "run"
    arch_name = _dict(report.get("arch")).get("name")
    version = report.get("accelsim_version")
    subtitle = " on ".join(str(x) for x in (_dict(report.get("workload")).get("name"), arch_name) if x)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>accelsim: {_e(name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<header><h1>accelsim: {_e(name)}</h1>",
        f'<p class="sub">{_e(subtitle)}</p></header>' if subtitle else "</header>",
        _cards(report),
        _notes(report),
        '<section id="summary"><h2>Summary</h2><div class="grid">',
        f"<div>{_summary(report)}</div>",
        '<div><h3>Utilization</h3>' + _utilization(report) + "<h3>Memory levels</h3>" + _memory(report) + "</div>",
        "</div></section>",
        _energy(report),
        _serving(report),
        _pipeline(report),
        _training(report),
        _diffusion(report),
        '<section id="plots"><h2>Plots</h2>' + _plots(report, images) + "</section>" if plots else "",
        '<section id="ops-section"><h2>Ops</h2>' + _ops_table(report) + "</section>",
        f"<footer>Written by accelsim {_e(version)} from report.json.</footer>" if version else "",
        f"<script>{_JS}</script>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def write_html(report: dict, path: str | os.PathLike, *, plots: bool = True,
               images: Mapping[str, bytes] | None = None) -> Path:
    """Write :func:`render_html` of ``report`` to ``path`` (UTF-8), atomically; returns the path."""
    path = Path(path)
    atomic_write_text(path, render_html(report, plots=plots, images=images))
    return path
