"""report.html of a serving run (``accelsim serve``): one self-contained page, as ``accelsim run``'s
(:mod:`accelsim.report.html`, whose style and helpers it shares): headline cards, the console's summary, the latency
distributions, each replica's load, the images / conversations / speculative-decoding sections a run has, the
two plots as embedded PNGs, and every setting resolved. Built from the plain report dict, so ``accelsim plot
OUTDIR`` can rebuild it; every string from the report is HTML-escaped; nothing depends on wall time."""

from __future__ import annotations

import base64
import functools
import typing
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel

from ..config.schema import _is_time, _parses_time
from ..config.serving import ServeConfig
from ..report import fmt
from ..report.html import _CSS, _JS, _e, _flat_section, _kv_table, _serving_value
from ..report.writers import atomic_write_text
from .metrics import model_title, summary_rows

HTML_FILE = "report.html"
LATENCIES = (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("itl_s", "ITL"), ("e2e_s", "end-to-end"), ("queue_s", "queue"))
PLOT_CAPTIONS = {
    "latency_cdf.png": "CDFs of TTFT, TPOT and end-to-end latency; p50 and p99 marked.",
    "serving_timeseries.png": "Per replica: running and waiting requests and KV blocks in use, against time.",
}


def _cards(report: dict) -> str:
    s = report.get("serving") or {}
    ttft, tpot, goodput = s.get("ttft_s") or {}, s.get("tpot_s") or {}, s.get("goodput") or {}
    def rate(x: float | None, spec: str) -> str:  # as the Summary's throughput row gives it (metrics.summary_rows)
        return fmt.DASH if x is None else format(x, spec)

    cards = [("requests / s", rate(s.get("requests_per_s"), ",.2f")),
             ("output tokens / s", rate(s.get("output_tokens_per_s"), ",.0f")),
             ("TTFT p50 / p99", f"{fmt.seconds(ttft.get('p50'))} / {fmt.seconds(ttft.get('p99'))}"),
             ("TPOT p50 / p99", f"{fmt.seconds(tpot.get('p50'))} / {fmt.seconds(tpot.get('p99'))}"),
             ("meet the SLOs", fmt.pct(goodput.get("fraction")) if goodput.get("slo") else "no SLO set")]
    eff = report.get("efficiency") or {}
    if eff.get("j_per_output_token") is not None:
        cards.append(("energy per output token", fmt.joules(eff["j_per_output_token"])))
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="v">{_e(v)}</div><div class="k">{_e(k)}</div></div>' for k, v in cards) + "</div>"


def _latencies(s: dict) -> str:
    head = "".join(f'<th class="n">{k}</th>' for k in ("mean", "p50", "p90", "p99"))
    rows = []
    for key, label in LATENCIES:
        d = s.get(key) or {}
        rows.append(f"<tr><th>{_e(label)}</th>" + "".join(f'<td class="n">{_e(fmt.seconds(d.get(k)))}</td>'
                                                          for k in ("mean", "p50", "p90", "p99")) + "</tr>")
    return f'<table><thead><tr><th></th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _replicas(s: dict) -> str:
    cols = ("replica", "role", "requests", "finished", "output_tokens", "iterations", "busy_fraction",
            "mean_batch_tokens", "preemptions", "kv_blocks")
    head = "".join(f"<th>{_e(c.replace('_', ' '))}</th>" for c in cols)
    body = []
    for r in s.get("replicas") or []:
        cells = []
        for c in cols:
            v = r.get(c)
            text = fmt.pct(v) if c == "busy_fraction" else fmt.general(v)
            cells.append(f'<td class="n" data-v="{_e(v)}">{_e(text)}</td>' if isinstance(v, int | float)
                         else f"<td>{_e(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}' \
           "</tbody></table></div>"


def _value(key: str, value: object) -> str:
    """A figure of a section: a ``{mean, p50, p90, p99}`` of seconds as "mean / p50 / p90 / p99", joules
    (``*_j``, ``j_per_*``) as joules, watts (``average_w``, ``average_w_per_chip``) as watts, the rest as the run
    page shows serving figures."""
    if isinstance(value, dict) and set(value) == {"mean", "p50", "p90", "p99"}:
        return " / ".join(fmt.seconds(value[k]) if value[k] is not None else "—" for k in ("mean", "p50", "p90", "p99"))
    if (key.endswith("_j") or key.startswith("j_per_")) and value is not None:
        return fmt.joules(value)
    if (key.endswith("_w") or key.endswith("_w_per_chip")) and value is not None:
        return fmt.watts(value)
    return _serving_value(key, value)


def _section(section: dict | None, key: str, title: str) -> str:
    """A kv table of one of the report's objects (nothing when the run has none)."""
    if not section:
        return ""
    rows = [(k + (" (mean / p50 / p90 / p99)" if isinstance(v, dict) else ""), _value(k, v))
            for k, v in section.items()]
    return f'<section id="{_e(key)}"><h2>{_e(title)}</h2>' + _kv_table(rows) + "</section>"


def _models(annotation: object) -> list[type[BaseModel]]:
    """The models a field's annotation holds (through Optional, Union and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _time_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """The dotted paths of ``model``'s settings read as times (``workload.duration``, ``slo.ttft``), by field."""
    out: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        if _parses_time(info.metadata) or _is_time(info.annotation):
            out.add(path)
        for sub in _models(info.annotation):
            out |= _time_paths(sub, f"{path}.")
    return out


@functools.cache
def setting_times() -> frozenset[str]:
    """The paths of report ``config`` (a :class:`ServeConfig` dumped) that are times in seconds: the Settings table
    gives them with their unit, as they are written (probe p108 #7: ``workload.duration 20``, ``slo.ttft 0.2``)."""
    return frozenset(_time_paths(ServeConfig))


def _plots(images: Mapping[str, bytes]) -> str:
    parts = []
    for name, caption in PLOT_CAPTIONS.items():
        if name in images:
            uri = "data:image/png;base64," + base64.b64encode(images[name]).decode("ascii")
            parts.append(f'<figure><img alt="{_e(name)}" src="{uri}"><figcaption>{_e(caption)}</figcaption></figure>')
    return '<section id="plots"><h2>Plots</h2><div class="grid">' + "".join(parts) + "</div></section>" if parts else ""


def render(report: dict, images: Mapping[str, bytes] | None = None) -> str:
    """The page of a serving report.json dict; ``images``: the PNGs to embed, by file name (none: no plots)."""
    s = report.get("serving") or {}
    name = str(report.get("name") or "serve")
    subtitle = model_title(report)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>accelsim serve: {_e(name)}</title>", f"<style>{_CSS}</style></head><body>",
        f"<header><h1>accelsim serve: {_e(name)}</h1>",
        f'<p class="sub">{_e(subtitle)}</p></header>' if subtitle else "</header>",
        _cards(report),
        '<section id="summary"><h2>Summary</h2><div class="grid">',
        "<div>" + _kv_table(summary_rows(report)) + "</div>",
        "<div><h3>Latency</h3>" + _latencies(s) + "</div>", "</div></section>",
        '<section id="replicas"><h2>Replicas</h2>' + _replicas(s) + "</section>",
        _section(s.get("images"), "images", "Images"), _section(s.get("conversations"), "conversations",
                                                                 "Conversations"),
        _section(s.get("speculative"), "speculative", "Speculative decoding"),
        _section({**(report.get("energy") or {}), **(report.get("power") or {}), **(report.get("efficiency") or {})}
                 if report.get("energy") else None, "energy", "Energy"),
        _plots(images or {}),
        _flat_section(report, "config", "Settings", setting_times()),
        f"<footer>Written by accelsim {_e(report.get('accelsim_version'))} from report.json.</footer>",
        f"<script>{_JS}</script>", "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def write(report: dict, outdir: Path, *, plots: bool) -> Path:
    """report.html in ``outdir``, embedding the plots found there when ``plots``."""
    images = {n: (outdir / n).read_bytes() for n in PLOT_CAPTIONS if plots and (outdir / n).is_file()}
    path = outdir / HTML_FILE
    atomic_write_text(path, render(report, images))
    return path
