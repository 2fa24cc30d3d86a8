"""Output: one table per file and the summary against the targets on the console; validation.csv, skipped.csv,
summary.json and validation.png in the output folder."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path

from .model import FileResult


def _pct(x: float | None, signed: bool = False) -> str:
    """A percentage as the tables print it ("-" for none: NaN, or a JSON null)."""
    v = math.nan if x is None else float(x)
    return "-" if math.isnan(v) else (f"{v:+.1f} %" if signed else f"{v:.1f} %")


def print_file(console, res: FileResult) -> None:
    from rich.table import Table

    p = res.plan
    from rich.markup import escape

    title = escape(f"{p.label}  [{p.preset or '-'}]  compares {p.compared}")  # a preset path is not markup
    t = Table(title=title, title_justify="left", show_lines=False)
    for col, kw in (("view", {}), ("rows", {"justify": "right"}), ("MAPE", {"justify": "right"}),
                    ("bias", {"justify": "right"}), ("worst row", {}), ("worst err", {"justify": "right"}),
                    ("target", {}), ("note", {})):
        t.add_column(col, **kw)
    for v in res.views:
        target = "-" if v.target is None else f"<= {v.threshold:g} % " + ("[green]met" if v.met else "[red]missed")
        t.add_row(v.label, str(v.rows), _pct(v.mape), _pct(v.bias, True), v.worst_key, _pct(v.worst_error, True),
                  target, v.note)
    reasons: dict[str, int] = {}
    for _, why in p.skipped:
        reasons[why] = reasons.get(why, 0) + 1
    for why, n in reasons.items():
        t.add_row("[yellow]skipped", str(n), "", "", "", "", "", why)
    console.print(t)
    for note in p.notes:
        console.print(f"  [dim]{note}[/dim]")


def print_summary(console, results: Sequence[FileResult], summary: list[dict], elapsed: float) -> None:
    from rich.table import Table

    t = Table(title="Summary against the targets", title_justify="left")
    for col in ("target", "threshold", "file", "view", "rows", "MAPE", "verdict", "why missed (from the numbers)"):
        t.add_column(col, justify="right" if col in ("threshold", "rows", "MAPE") else "left")
    for s in summary:
        if not s["members"]:
            t.add_row(s["description"], f"{s['threshold']:g} %", "-", "-", "0", "-", "[yellow]no data", "")
        for i, m in enumerate(s["members"]):
            t.add_row(s["description"] if i == 0 else "", f"{s['threshold']:g} %" if i == 0 else "", m["file"],
                      m["view"], str(m["rows"]), _pct(m["mape"]), "[green]met" if m["met"] else "[red]missed",
                      m["why"])
    console.print(t)
    replayed = sum(len(r.rows) for r in results)
    skipped = sum(len(r.plan.skipped) for r in results)
    console.print(f"{len(results)} files, {replayed} rows replayed, {skipped} rows not replayed "
                  f"(skipped with a reason), {elapsed:.0f} s")
    for r in results:
        if r.plan.skipped and not r.rows:
            console.print(f"  not replayed: {r.label}: {len(r.plan.skipped)} rows: "
                          f"{r.plan.skipped[0][1].removeprefix('not replayed: ')}")
    with_data = [s for s in summary if s["members"]]
    met = sum(s["met"] for s in with_data)
    console.print(f"targets met: {met} / {len(with_data)}" + (f" ({len(summary) - len(with_data)} without data)"
                                                             if len(with_data) < len(summary) else ""))


def write_outputs(out: Path, results: Sequence[FileResult], summary: list[dict], plot: bool = True) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "validation.csv", out / "skipped.csv", out / "summary.json"]
    with open(paths[0], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "key", "measured_s", "simulated_s", "error"])
        for r in results:
            for row in r.rows:
                w.writerow([r.label, row.key, f"{row.measured_s:.6e}", f"{row.simulated_s:.6e}", f"{row.error:.5f}"])
    with open(paths[1], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "key", "reason"])
        for r in results:
            for key, why in r.plan.skipped:
                w.writerow([r.label, key, why])
    files = [{"file": r.label, "kind": r.plan.kind, "preset": r.plan.preset, "compared": r.plan.compared,
              "rows": len(r.rows), "skipped": len(r.plan.skipped),
              "views": [{"view": v.label, "rows": v.rows, "mape": v.mape, "bias": v.bias, "worst_key": v.worst_key,
                         "worst_error": v.worst_error, "target": v.target, "met": v.met} for v in r.views]}
             for r in results]
    paths[2].write_text(json.dumps({"files": files, "targets": summary}, indent=1, default=str) + "\n")
    if plot:
        paths.append(plot_results(results, out / "validation.png"))
    return paths


def markdown(summary: dict, command: str = "", machine: str = "") -> str:
    """Per-file, per-view MAPE and bias tables in Markdown from a ``summary.json`` (docs/validation.md is written
    with it: ``python benchmarks/validate.py --markdown FILE``)."""
    out = []
    if command or machine:
        out.append(f"Command: `{command}`" + (f"; machine: {machine}" if machine else "") + "\n")
    out += _targets_table(summary.get("targets", []))
    for f in summary["files"]:
        views = [v for v in f["views"] if v["rows"]]
        out.append(f"### {f['file']}\n")
        out.append(f"Preset `{f['preset'] or '-'}`; compares {f['compared']}; {f['rows']} rows replayed, "
                   f"{f['skipped']} skipped.\n")
        if not views:
            continue
        out.append("| view | rows | MAPE | bias | worst row | worst | target |")
        out.append("|---|---:|---:|---:|---|---:|---|")
        for v in views:
            target = "-" if not v["target"] else f"{v['target']}: " + ("met" if v["met"] else "missed")
            out.append(f"| {v['view']} | {v['rows']} | {_pct(v['mape'])} | {_pct(v['bias'], True)} | "
                       f"{str(v['worst_key']).replace('|', '/')} | {_pct(v['worst_error'], True)} | {target} |")
        out.append("")
    return "\n".join(out) + "\n"


def _targets_table(targets: list[dict]) -> list[str]:
    """The targets at a glance: one line per file a target counts (its view's MAPE against the threshold), a
    target without data as one line."""
    if not targets:
        return []
    out = ["### Targets at a glance\n", "| target | limit | file | view | rows | MAPE | |", "|---|---:|---|---|---:|---:|---|"]
    for t in targets:
        members = t["members"] or [{"file": "-", "view": "-", "rows": 0, "mape": None, "met": None}]
        for m in members:
            verdict = "no data" if m["met"] is None else "met" if m["met"] else "missed"
            out.append(f"| {t['description']} | {t['threshold']:g} % | {m['file']} | {m['view']} | {m['rows']} | "
                       f"{_pct(m['mape'])} | {verdict} |")
    return out + [""]


BEGIN, END = "<!-- validate.py --markdown: begin -->", "<!-- validate.py --markdown: end -->"


def write_markdown(path: Path, text: str) -> None:
    """``text`` into ``path``: between the BEGIN and END marker lines when the file has them (docs/validation.md),
    else the whole file."""
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old.split(BEGIN, 1)[1]:
        head, rest = old.split(BEGIN, 1)
        path.write_text(f"{head}{BEGIN}\n{text}{END}{rest.split(END, 1)[1]}")
    else:
        path.write_text(text)


def plot_results(results: Sequence[FileResult], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 8))
    shown = [r for r in results if r.rows]
    colors = [*plt.get_cmap("tab10").colors, "black", "gold", "navy", "lime", "magenta", "teal", "sienna",
              "slateblue", "darkkhaki", "crimson"]
    markers = "os^Dv<>P"
    lo, hi = math.inf, 0.0
    # the big files first (behind), the few-row files on top with bigger markers
    for r in sorted(shown, key=lambda r: -len(r.rows)):
        i = shown.index(r)
        xs = [row.measured_s for row in r.rows if row.measured_s > 0 and row.simulated_s > 0]
        ys = [row.simulated_s for row in r.rows if row.measured_s > 0 and row.simulated_s > 0]
        if not xs:
            continue
        lo, hi = min(lo, *xs, *ys), max(hi, *xs, *ys)
        many = len(xs) > 200
        ax.scatter(xs, ys, s=5 if many else 22, alpha=0.35 if many else 0.9, color=colors[i % len(colors)],
                   marker=markers[(i // len(colors)) % len(markers)], label=f"{r.label} ({len(xs)})",
                   edgecolors="none", rasterized=many)
    if hi > 0:
        ax.plot([lo / 2, hi * 2], [lo / 2, hi * 2], "k-", lw=1, label="y = x")
        ax.plot([lo / 2, hi * 2], [lo / 2 * 1.1, hi * 2 * 1.1], "k:", lw=0.7, label="±10 %")
        ax.plot([lo / 2, hi * 2], [lo / 2 / 1.1, hi * 2 / 1.1], "k:", lw=0.7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured (s)")
    ax.set_ylabel("accelsim (s)")
    ax.set_title("accelsim vs real hardware (host or device time per file, see validation.md)")
    ax.grid(True, which="both", alpha=0.2)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda k: (labels[k].startswith(("y = x", "±")), labels[k]))
    leg = ax.legend([handles[k] for k in order], [labels[k] for k in order], fontsize=6, loc="upper left",
                    markerscale=2)
    for handle in getattr(leg, "legend_handles", None) or getattr(leg, "legendHandles", []):
        handle.set_alpha(1.0)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
