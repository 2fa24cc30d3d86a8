"""Probe p221 #4: the busy rows (console, report.html, utilization.png) list the memory levels innermost first, as
docs/architecture.md's "Renderers" promise (sram, l2, hbm, host), and utilization.png names the host's kernel-launch
track ``launch`` as the host CPU, not a compute unit. The report is a real one: a GEMM on the h100 preset, whose
report.json lists its utilization as core*.systolic0, core*.vector, hbm, host, l2, launch."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from accelsim import simulate
from accelsim.report import plots
from accelsim.report.console import summary_table, utilization_in_order
from accelsim.report.html import render_html


@pytest.fixture(scope="module")
def report() -> dict:
    return simulate("gemm", "h100").to_dict()


def test_the_levels_are_listed_innermost_first_in_every_renderer(report):
    assert [lv["name"] for lv in report["levels"]] == ["sram", "l2", "hbm", "host"]  # the h100's hierarchy
    assert list(report["utilization"]) != list(utilization_in_order(report))  # hbm, host, l2: insertion order
    assert list(utilization_in_order(report)) == ["core*.systolic0", "core*.vector", "l2", "hbm", "host", "launch"]
    console = Console(record=True, width=200)
    console.print(summary_table(report))
    rows = [line.split("\u2502")[1].strip() for line in console.export_text().splitlines() if "\u2502" in line]
    busy = [r.removeprefix("busy ") for r in rows if r.startswith("busy ")]
    assert busy == ["core*.systolic0", "core*.vector", "l2", "hbm", "host", "launch"]  # was hbm, host, l2
    page = render_html(report, plots=False)
    table = page[page.index("<th>unit</th><th>kind</th>"):]
    table = table[:table.index("</table>")]
    units = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td>", table)
    assert [u for u, _ in units][-4:] == ["l2", "hbm", "host", "launch"]
    assert dict(units)["launch"] == "host CPU"


def test_the_plot_colours_launch_as_the_host_cpu(report, tmp_path, monkeypatch):
    seen = {}
    real = plots._save
    monkeypatch.setattr(plots, "_save", lambda plt, fig, path: (seen.setdefault("fig", fig), real(plt, fig, path))[1])
    plots.plot_utilization(report, tmp_path / "u.png")
    ax = seen["fig"].axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-4:] == ["l2", "hbm", "host", "launch"]
    legend = {t.get_text(): h.get_facecolor() for t, h in zip(ax.get_legend().get_texts(),
                                                              ax.get_legend().legend_handles, strict=True)}
    assert plots.HOST_CPU_LABEL in legend
    bars = {label: patch.get_facecolor() for label, patch in zip(labels, ax.patches, strict=False)}
    assert bars["launch"] == legend[plots.HOST_CPU_LABEL] != legend["compute unit"]
