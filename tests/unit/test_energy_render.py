"""Energy, power and area in the renderers: console, HTML, ops.csv, compare and the sweep Pareto plot, each fed a
report from the real report builder (LeNet-5 on gemmini, whose preset gives energy constants; the same on a copy of
gemmini without them)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

import accelsim
from accelsim.report import fmt
from accelsim.report.compare import compare_rows
from accelsim.report.console import energy_rows, print_summary
from accelsim.report.html import render_html
from accelsim.sweep.plots import plot_pareto
from accelsim.sweep.store import metrics_from_report


@pytest.fixture(scope="module")
def lenet():
    return accelsim.simulate("lenet5", "gemmini").to_dict()


@pytest.fixture(scope="module")
def bare():
    # gemmini with energy switched off: what a preset without constants reports
    return accelsim.simulate("lenet5", {"base": "gemmini", "name": "bare", "energy": None}).to_dict()


def test_fmt_quantities():
    assert fmt.joules(0.0123) == "12.3 mJ" and fmt.watts(405) == "405 W" and fmt.joules(2.5e-9) == "2.5 nJ"
    assert fmt.mm2(826) == "826 mm²" and fmt.joules(None) == fmt.DASH


def test_console_shows_energy_power_and_area(lenet, bare):
    out = io.StringIO()
    print_summary(lenet, Console(file=out, width=200))
    text = out.getvalue()
    assert fmt.joules(lenet["energy"]["total_j"]) in text and fmt.mm2(lenet["area"]["total_mm2"]) in text
    labels = [label for label, _ in energy_rows(lenet)]
    assert labels[0] == "energy" and {"power", "efficiency", "EDP", "area"} <= set(labels)
    assert "  energy hbm" in labels and "  energy systolic" in labels
    assert energy_rows(bare) == []


def test_html_has_the_energy_section_and_an_energy_column(lenet, bare):
    page = render_html(lenet, plots=False)
    assert '<section id="energy">' in page and "Energy by part (dynamic, activity and static)" in page and "<h3>Area</h3>" in page
    assert fmt.joules(lenet["energy"]["total_j"]) in page
    assert '<section id="energy">' not in render_html(bare, plots=False)


def test_compare_and_sweep_metrics_carry_energy(lenet, bare):
    rows = dict(compare_rows([("a", lenet), ("b", bare)]))
    assert rows["energy.total_j"] == [lenet["energy"]["total_j"], None]
    assert rows["area.total_mm2"] == [lenet["area"]["total_mm2"], None]
    assert rows["efficiency.j_per_inference"][0] == pytest.approx(lenet["energy"]["total_j"] / 1)  # batch 1
    m = metrics_from_report(lenet)
    assert m["energy_j"] == lenet["energy"]["total_j"] and m["area_mm2"] == lenet["area"]["total_mm2"]
    assert m["edp"] == lenet["edp"]
    assert "energy_j" not in metrics_from_report(bare)


def test_pareto_plot_needs_energy_and_area(tmp_path, lenet, bare):
    def rec(rep, rows):
        return {"status": "ok", "point": {"rows": rows}, "metrics": metrics_from_report(rep)}
    bigger = {**lenet, "area": {**lenet["area"], "total_mm2": 2 * lenet["area"]["total_mm2"]}}  # a made-up twin
    assert plot_pareto([rec(lenet, 16), rec(bigger, 32)], ["rows"], tmp_path / "p.png") == tmp_path / "p.png"
    assert plot_pareto([rec(bare, 16), rec(bare, 32)], ["rows"], tmp_path / "q.png") is None


def test_a_part_with_static_energy_only_says_so_in_the_console_and_html():
    # probe p142 #6: "energy host 1.72 mJ" beside "bytes host 0B" read as traffic. LeNet-5 on tpu-v1 moves no byte
    # over its host link, so the host level's energy is its share of the chip's static power alone (docs/energy.md:
    # shared by area): 28 W (tpu-v1's idle power, Jouppi ISCA'17) × its 7.68 mm² of the chip's area × seconds
    rep = accelsim.simulate("lenet5", "tpu-v1").to_dict()
    energy, area = rep["energy"], rep["area"]
    assert rep["bytes"]["host"] == 0 and rep["bytes"]["hbm"] > 0
    host = 28.0 * area["levels"]["host"] / area["total_mm2"] * rep["seconds"]
    assert energy["static_by_level"]["host"] == pytest.approx(host, rel=1e-9, abs=0)
    assert energy["by_level"]["host"] == pytest.approx(host, rel=1e-9, abs=0)
    # the static shares are those of static_j: with other_j they add up to it
    assert sum(energy["static_by_level"].values()) + sum(energy["static_by_unit"].values()) + energy["other_j"] \
        == pytest.approx(energy["static_j"], rel=1e-12, abs=0)
    rows = dict(energy_rows(rep))
    assert rows["  energy host"] == f"{fmt.joules(energy['by_level']['host'])} (static)"
    assert rows["  energy hbm"] == fmt.joules(energy["by_level"]["hbm"])  # its bytes cost dynamic energy too
    # the accumulators compute nothing of their own (the arrays' MACs are filed under systolic), but hold the
    # partial sums of fc1 (K = 400: two K folds of the 256 rows) and their bytes' energy (probe p279 #1: only their
    # static share showed, "(static)"); an output-stationary run, whose PEs hold its sums, leaves them static only
    # (a one-fold GEMM no longer does: its sums still pass the accumulators, probe p286 #2)
    assert not rows["  energy accumulators"].endswith(")") and not rows["  energy systolic"].endswith(")")
    assert rep["bytes"]["accumulators"] > 0
    os_arch = accelsim.config.load_arch("tpu-v1", ["core.systolic.dataflow=os"])
    one = accelsim.simulate({"model": "gemm", "m": 256, "n": 256, "k": 256}, os_arch).to_dict()
    assert one["bytes"]["accumulators"] == 0
    assert dict(energy_rows(one))["  energy accumulators"].endswith(" (static)")
    page = render_html(rep, plots=False)
    assert f"{fmt.joules(energy['by_level']['host'])} (static)" in page and "host (level, static)" in page
    assert "hbm (level)" in page
    # a report written before the split renders as it did, without the word
    old = {**rep, "energy": {k: v for k, v in energy.items() if not k.startswith("static_by_")}}
    assert dict(energy_rows(old))["  energy host"] == fmt.joules(energy["by_level"]["host"])
