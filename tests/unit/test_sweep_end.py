"""The end of a sweep in bounded memory: results.csv streamed from results.jsonl (byte for byte what the table of
every record held in memory gives), the plots' numeric columns, the sort-based Pareto front and the scatter
sample rule."""

from __future__ import annotations

import itertools
import json
import random

import numpy as np
import pytest

from accelsim.errors import AccelsimError
from accelsim.sweep import plots
from accelsim.sweep.plots import SweepColumns, pareto_front_nd, scatter_sample
from accelsim.sweep.store import (
    CSV_FILE,
    RESULTS_FILE,
    RecordIndex,
    metrics_from_report,
    ordered_records,
    record,
    stream_csv,
    write_csv,
    write_sweep_json,
)

AXES = ["arch", "rows", "tile"]


def _folder(tmp_path):
    """A sweep folder whose results.jsonl is out of sweep order, holds records of two shapes (an arch with an hbm
    level, one with a dram level and an extra metric), a point run twice (the second line wins), an error
    record, a record of an id the sweep no longer has, a line that is not a record and a torn last line."""
    ids = ["p0", "p1", "p2", "p3", "p4"]
    write_sweep_json(tmp_path, {"name": "end", "axes": AXES, "ids": ids})
    hbm = {"total_cycles": 100, "seconds": 1e-4, "bytes": {"sram": 5, "hbm": 7}}
    dram = {"total_cycles": 90, "seconds": 9e-5, "bytes": {"sram": 4, "dram": 6}, "area_mm2": 2.5}
    lines = [
        record("p3", {"arch": "b", "rows": 8, "tile": [2, 2]}, metrics=dram),
        record("p0", {"arch": "a", "rows": 4, "tile": [1, 2]}, metrics={**hbm, "total_cycles": 1}),  # replaced below
        record("p2", {"arch": "b", "rows": 4, "tile": [1, 2]}, error="ConfigError: a, \"quoted\" one"),
        record("gone", {"arch": "c", "rows": 4, "tile": None}, metrics={"other": 1}),
        record("p1", {"arch": "a", "rows": 8, "tile": None}, metrics=hbm),
        record("p0", {"arch": "a", "rows": 4, "tile": [1, 2]}, metrics=hbm),
    ]
    text = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in lines)
    (tmp_path / RESULTS_FILE).write_text(text + "[1, 2]\n" + '{"id": "p4", "status": "o')
    return {"name": "end", "axes": AXES, "ids": ids}


def test_streamed_csv_is_byte_identical_to_the_in_memory_table(tmp_path):
    info = _folder(tmp_path)
    write_csv(tmp_path, ordered_records(tmp_path, info), AXES)
    old = (tmp_path / CSV_FILE).read_text()
    path, counts = stream_csv(tmp_path, info)
    assert path.read_text() == old
    # by hand: the sweep's order p0 p1 p2 p3 (p4 torn, "gone" not in the sweep); metric columns in order of first
    # appearance in that order: p0's (hbm) then p3's new ones (bytes.dram, area_mm2); pareto after status
    assert old.splitlines()[0] == "id,arch,rows,tile,status,pareto,total_cycles,seconds,bytes.sram,bytes.hbm," \
                                  "bytes.dram,area_mm2,error"
    assert [line.split(",")[0] for line in old.splitlines()[1:]] == ["p0", "p1", "p2", "p3"]
    # the second line of p0 won; no point has energy, so none is ranked (an empty pareto cell)
    assert old.splitlines()[1] == 'p0,a,4,"[1,2]",ok,,100,0.0001,5,7,,,'
    assert counts == {"ok": 3, "error": 1}


def test_streamed_csv_strict_names_the_bad_line(tmp_path):
    info = _folder(tmp_path)
    with pytest.raises(AccelsimError, match=r"results.jsonl:7: not a result record"):
        stream_csv(tmp_path, info, strict=True)


def test_the_index_keeps_offsets_not_records(tmp_path):
    _folder(tmp_path)
    index = RecordIndex(tmp_path, ["p3", "p0", "nope"])
    # offsets of the lines by hand: p3 is the first line; p0's last record is the sixth line
    lines = (tmp_path / RESULTS_FILE).read_bytes().split(b"\n")
    assert index.offsets.tolist() == [0, sum(len(line) + 1 for line in lines[:5]), -1] and index.skipped_lines == 1
    assert [r["metrics"].get("total_cycles") for r in index.records()] == [90, 100]
    assert index.metric_columns() == ["total_cycles", "seconds", "bytes.sram", "bytes.dram", "area_mm2",
                                      "bytes.hbm"]  # p3's shape first, then p0's one new column


def test_columns_keep_numbers_of_ok_records_and_the_best_per_key():
    recs = [record(f"r{r}{b}", {"rows": r, "bw": b}, metrics={"seconds": 1000 // r + b})
            for r, b in itertools.product([16, 8], [30, 10, 20])]
    recs.append(record("bad", {"rows": 4, "bw": 10}, error="x"))
    recs.append(record("nan", {"rows": 8, "bw": 10}, metrics={"seconds": float("nan")}))
    cols = SweepColumns.of(recs, ["rows", "bw"])
    assert len(cols) == 7 and cols.values == {"rows": [16, 8], "bw": [30, 10, 20]}  # first appearance; no 4
    assert cols.sorted_values("rows") == [8, 16] and cols.varying() == ["rows", "bw"]
    # best over bw: 1000 // 16 + 10 = 72, 1000 // 8 + 10 = 135 (the NaN point is not a number, so left out)
    assert cols.best(["rows"], "seconds") == {("16",): 72.0, ("8",): 135.0}
    assert cols.best(["rows", "bw"], "seconds")[("8", "20")] == 145.0
    assert np.isnan(cols.metric(plots.ENERGY)).all()


def test_pareto_front_of_hand_listed_points():
    # 2-D (area, seconds): (1, 9) (2, 4) (3, 4) (3, 2) (5, 1) (6, 1) (4, 5): (3, 4) ties (2, 4) on seconds with more
    # area, (6, 1) the same against (5, 1), (4, 5) is beaten by (2, 4) → front (1, 9) (2, 4) (3, 2) (5, 1)
    pts = [(3, 4), (1, 9), (6, 1), (2, 4), (4, 5), (5, 1), (3, 2)]
    assert pareto_front_nd(pts) == [1, 3, 5, 6]
    # 3-D (area, seconds, joules): (2, 2, 2) beats (2, 3, 2) and (3, 3, 3); (1, 5, 1) (5, 1, 5) (3, 1, 9) each lead
    # one coordinate or pair; (2, 2, 2) twice: equal points do not dominate each other (Deb 2001, Def. 2.5), so
    # both copies are on the front (this test kept only the first before, an order-dependent front)
    pts3 = [(3, 3, 3), (2, 2, 2), (1, 5, 1), (2, 3, 2), (5, 1, 5), (3, 1, 9), (2, 2, 2)]
    assert pareto_front_nd(pts3) == [1, 2, 4, 5, 6]
    assert pareto_front_nd(np.zeros((0, 3))) == []


def test_pareto_front_of_a_large_3d_set_is_the_plane():
    # every integer point with a + b + c = 60 (1,891 of them) is on the front: one coordinate lower means another
    # higher; each copy moved up by 1 in c is beaten by its original; shuffled, so the front is found by sorting
    plane = [(a, b, 60 - a - b) for a in range(61) for b in range(61 - a)]
    pts = plane + [(a, b, c + 1) for a, b, c in plane]
    order = list(range(len(pts)))
    random.Random(3).shuffle(order)
    front = pareto_front_nd([pts[i] for i in order])
    assert len(plane) == 1891 and sorted(order[i] for i in front) == list(range(len(plane)))


def test_pareto_front_matches_the_definition_on_random_points():
    rng = np.random.default_rng(5)
    for d in (2, 3, 4):
        pts = rng.integers(0, 6, size=(60, d)).astype(float)  # small integers: many ties and equal points
        # Deb 2001, Def. 2.5: q dominates p iff q is no worse in every coordinate and strictly better in one (this
        # definition also let an equal, earlier point dominate before: an order-dependent front)
        by_definition = [i for i, p in enumerate(pts) if not any((q <= p).all() and (q < p).any() for q in pts)]
        assert pareto_front_nd(pts) == by_definition
        flipped = pareto_front_nd(pts[::-1])  # the same front, whatever the order of the points
        assert sorted(len(pts) - 1 - i for i in flipped) == by_definition


def test_equal_points_are_all_on_the_front_or_all_off_in_either_order():
    # probe p199 #1: each (rows, cols) twice with equal metrics (an HBM capacity that changes nothing). By hand, 2-D
    # (area, seconds): (1, 4) (2, 3) (3, 1) (3, 2): (3, 2) loses to (3, 1); the other three each lead one
    # coordinate, so both copies of each are on the front and both copies of (3, 2) are off
    one = [(1, 4), (2, 3), (3, 1), (3, 2)]
    for pts in (one + one, one[::-1] + one[::-1], [p for p in one for _ in (0, 1)]):
        assert sorted(pts[i] for i in pareto_front_nd(pts)) == sorted(2 * [(1, 4), (2, 3), (3, 1)])
    # 3-D, with 1-D and 5-D: every copy of the minimum (or of the unbeaten tuple) is kept
    three = [(1, 5, 1), (2, 2, 2), (2, 2, 2), (2, 3, 2), (5, 1, 5)]
    assert pareto_front_nd(three) == [0, 1, 2, 4] and pareto_front_nd(three[::-1]) == [0, 2, 3, 4]
    assert pareto_front_nd([(3,), (1,), (2,), (1,)]) == [1, 3]
    assert pareto_front_nd([(1, 1, 1, 1, 2), (1, 1, 1, 1, 1), (1, 1, 1, 1, 1)]) == [1, 2]


def test_the_scatter_sample_rule():
    assert scatter_sample(5, limit=10).tolist() == [0, 1, 2, 3, 4]  # at most the limit: every point
    # 95 points over a limit of 10: every ceil(95 / 10) = 10th point, 0 10 ... 90, plus the front (3, 94)
    assert scatter_sample(95, [94, 3], limit=10).tolist() == [0, 3, 10, 20, 30, 40, 50, 60, 70, 80, 90, 94]
    assert plots.MAX_SCATTER == 20_000


def test_a_pareto_plot_of_more_points_than_the_limit_draws_a_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(plots, "MAX_SCATTER", 8)
    drawn = {}
    real = plots.scatter_sample

    def spy(n, must=(), limit=None):
        drawn["n"], drawn["idx"] = n, real(n, must, limit)
        return drawn["idx"]

    monkeypatch.setattr(plots, "scatter_sample", spy)
    recs = [record(f"r{i}", {"rows": i}, metrics={"seconds": 1.0 / i, "area_mm2": float(i), "energy_j": 1.0})
            for i in range(1, 41)]
    assert plots.plot_pareto(recs, ["rows"], tmp_path / "p.png") == tmp_path / "p.png"
    # 40 points, limit 8: every 5th (0 5 ... 35); every point is on the front (area up, seconds down): all drawn
    assert drawn["n"] == 40 and len(drawn["idx"]) == 40


def _figures(monkeypatch) -> dict:
    """The figures the plot functions save, by file name (kept open: _save closes them after saving)."""
    seen = {}
    real = plots._save

    def keep(plt, fig, path):
        seen[path.name] = fig
        real(plt, fig, path)
        return path

    monkeypatch.setattr(plots, "_save", keep)
    monkeypatch.setattr("matplotlib.pyplot.close", lambda fig=None: None)
    return seen


def test_a_heatmap_of_many_values_draws_flat_cells_and_a_dozen_labels(tmp_path, monkeypatch, recwarn):
    # the probing user's grid: 3 clocks x 201 n values (16 .. 3216 step 16) x 2 latencies, the 10 GHz points of the
    # long latency missing (invalid): 1,206 - 201 = 1,005 ok points
    clocks, ns, lats = ["100MHz", "1GHz", "10GHz"], list(range(16, 3217, 16)), ["100ns", "1000000000s"]
    recs = [record(f"r{i}", {"clock": c, "n": n, "lat": lat}, metrics={"seconds": n * (1 + j) * (1 + k)})
            for i, (j, c, n, k, lat) in enumerate((j, c, n, k, lat) for j, c in enumerate(clocks) for n in ns
                                                  for k, lat in enumerate(lats))
            if not (c == "10GHz" and lat == "1000000000s")]
    assert len(ns) == 201 and len(recs) == 1005
    figs = _figures(monkeypatch)
    plots.plot_heatmap(recs, ["clock", "n", "lat"], tmp_path / plots.HEATMAP_FILE)
    plots.plot_lines(recs, ["clock", "n", "lat"], tmp_path / plots.LINES_FILE)
    heat = figs[plots.HEATMAP_FILE].axes
    images = [im for ax in heat for im in ax.get_images()]
    assert len(images) == 2 and all(im.get_interpolation() == "nearest" for im in images)  # a panel per latency
    # the 10 GHz row of the long latency has no point: its cells are NaN, drawn blank, not smoothed over
    missing = [np.ma.getmaskarray(np.ma.masked_invalid(im.get_array())) for im in images]
    assert missing[1][2].all() and not missing[1][:2].any() and not missing[0].any()
    # 201 columns: a label every ceil(201 / 12) = 17th value, at 0, 17, ..., 187: 12 labels, from n=16 by 17 * 16
    labels = [t.get_text() for t in heat[0].get_xticklabels()]
    assert labels == [str(16 + 17 * 16 * i) for i in range(12)] and plots.MAX_TICKS == 12
    assert [t.get_text() for t in heat[0].get_yticklabels()] == clocks  # 3 rows: every one labelled
    # the lines: 201 series (n) are more than MAX_LEGEND = 10: no legend, a colorbar of n labelled as the heatmap
    lines = figs[plots.LINES_FILE].axes
    panels = [ax for ax in lines if ax.get_title()]
    assert len(panels) == 2 and all(ax.get_legend() is None for ax in panels)
    bars = [ax for ax in lines if not ax.get_title()]
    assert len(bars) == 2 and [t.get_text() for t in bars[0].get_yticklabels()] == labels
    assert not [w for w in recwarn if "Tight layout" in str(w.message)]


def test_a_pareto_front_per_workload_on_system_figures(tmp_path, monkeypatch):
    # by hand: m=64 has A (area 1, 1 s, 1 J) and B (area 2, 0.5 s, 1 J): neither beats the other, both on its
    # front; m=128 has C (1, 4 s, 4 J) and D (2, 2 s, 4 J), likewise. Over all four A beats C and B beats D, so one
    # front of all points was the smaller workload's alone; m=256's single point E has nothing to compare with
    def rec(rid, m, arch, area, s, j):
        return record(rid, {"workload.m": m, "arch": arch},
                      metrics={"seconds": s, "system_area_mm2": area, "system_energy_j": j})

    recs = [rec("A", 64, "a", 1.0, 1.0, 1.0), rec("B", 64, "b", 2.0, 0.5, 1.0), rec("C", 128, "a", 1.0, 4.0, 4.0),
            rec("D", 128, "b", 2.0, 2.0, 4.0), rec("E", 256, "a", 1.0, 9.0, 9.0)]
    figs = _figures(monkeypatch)
    assert plots.plot_pareto(recs, ["workload.m", "arch"], tmp_path / plots.PARETO_FILE) is not None
    panels = [ax for ax in figs[plots.PARETO_FILE].axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["m=64", "m=128"]  # E's workload left out
    rings = [sorted(map(tuple, ax.collections[1].get_offsets().tolist())) for ax in panels]  # (area, seconds)
    assert rings == [[(1.0, 1.0), (2.0, 0.5)], [(1.0, 4.0), (2.0, 2.0)]]
    # the labels name the points of a workload by the other axes: arch
    assert sorted(t.get_text() for t in panels[0].texts if t.get_visible()) == ["arch=a", "arch=b"]
    # every workload of one point: nothing to compare, no plot
    assert plots.plot_pareto([recs[0], recs[2], recs[4]], ["workload.m", "arch"], tmp_path / "p.png") is None


def test_the_system_figures_of_a_multi_chip_report():
    # report.json's energy is the chips the report covers (power.chips) and its area one chip's (docs/energy.md);
    # an inference no key spreads works on those chips only, the others idle at their static power (probe p66):
    # 8 chips, a report of 1 at 10 W static over 1 s: 200 J + 7 x 10 W x 1 s = 270 J, and 250 mm2 x 8 = 2,000 mm2;
    # a pipeline report of its 4 stages' chips of 8 (40 W static): 200 J + 4 x 10 W x 1 s = 240 J
    def report(chips, covered):
        return {"seconds": 1.0, "arch": {"chips": chips}, "energy": {"total_j": 200.0},
                "power": {"chips": covered, "static_w": 10.0 * covered}, "area": {"total_mm2": 250.0}}

    m = metrics_from_report(report(8, 1))
    assert (m["energy_j"], m["area_mm2"], m["system_energy_j"], m["system_area_mm2"]) == (200.0, 250.0, 270.0, 2000.0)
    assert metrics_from_report(report(8, 4))["system_energy_j"] == 240.0
    assert metrics_from_report(report(1, 1))["system_energy_j"] == 200.0  # one chip: the system is the chip
    # a training step's data-parallel replicas all work: 200 J x 8 / 1 = 1,600 J
    assert metrics_from_report({**report(8, 1), "phases": {}})["system_energy_j"] == 1600.0
    # a record written before the system figures existed is plotted with its energy_j and area_mm2
    cols = SweepColumns.of([record("old", {}, metrics={"seconds": 1.0, "energy_j": 3.0, "area_mm2": 5.0})], [])
    assert (cols.metric(plots.ENERGY).tolist(), cols.metric(plots.AREA).tolist()) == ([3.0], [5.0])


@pytest.mark.parametrize("n, labelled", [(10, 10), (11, 0)])
def test_a_front_of_at_most_ten_points_is_labelled(tmp_path, monkeypatch, n, labelled):
    # area i and 1/i s for i = 1..n: each point is smaller or faster than every other, so all n are on the front;
    # at most MAX_LABELLED_FRONT = 10 get labels (docs/sweeps.md), more none
    recs = [record(f"r{i}", {"rows": i}, metrics={"seconds": 1.0 / i, "area_mm2": float(i), "energy_j": 1.0})
            for i in range(1, n + 1)]
    figs = _figures(monkeypatch)
    plots.plot_pareto(recs, ["rows"], tmp_path / plots.PARETO_FILE)
    ax = figs[plots.PARETO_FILE].axes[0]
    assert len(ax.collections[1].get_offsets()) == n and plots.MAX_LABELLED_FRONT == 10
    assert sum(t.get_visible() for t in ax.texts) == labelled


def test_points_without_energy_are_left_off_the_pareto_plot_and_it_says_so(tmp_path, monkeypatch):
    # 3 archs x 1 workload: a and b have seconds, area and energy; c (no energy block, as multicore-4) only seconds.
    # The plot draws a and b; c is counted as left off, in the title and in a warning from plot_sweep_records
    def rec(rid, arch, s, area=None, j=None):
        metrics = {"seconds": s} | ({} if area is None else {"system_area_mm2": area, "system_energy_j": j})
        return record(rid, {"arch": arch}, metrics=metrics)

    recs = [rec("a", "a", 1.0, 1.0, 1.0), rec("b", "b", 0.5, 2.0, 1.0), rec("c", "c", 0.2), rec("d", "d", 0.3)]
    assert plots.pareto_left_off(SweepColumns.of(recs, ["arch"])) == 2
    figs = _figures(monkeypatch)
    warned = []
    plots.plot_sweep_records(recs, ["arch"], tmp_path, warn=warned.append)
    ax = figs[plots.PARETO_FILE].axes[0]
    assert len(ax.collections[0].get_offsets()) == 2  # a and b drawn
    assert ax.get_title().endswith("\n2 points without energy or area (an arch with no energy block) left off")
    assert warned == [f"{tmp_path / plots.PARETO_FILE}: 2 points without energy or area (an arch with no energy "
                      f"block) left off"]
    # every point with energy: no note, no warning
    warned.clear()
    plots.plot_sweep_records(recs[:2], ["arch"], tmp_path, warn=warned.append)
    assert warned == [] and "left off" not in figs[plots.PARETO_FILE].axes[0].get_title()


def test_the_latency_axis_of_a_serving_sweep_says_it_is_the_prefill_and_the_decode_steps(tmp_path, monkeypatch):
    # the points' metrics as a sweep makes them from real reports (gpt2, a prefill of 32 tokens and 2 decode steps,
    # batch 1 and 2; a GEMM for a plain run): a serving run's seconds are the prefill and every decode step, not
    # its TTFT or TPOT, and the axis says so; a plain run's stays "seconds (latency)"
    from accelsim import simulate

    seen = _figures(monkeypatch)
    serving = [record(f"s{b}", {"batch": b}, metrics=metrics_from_report(
        simulate({"model": "gpt2", "seq_len": 32, "decode_steps": 2, "batch": b}, "a100").to_dict()))
        for b in (1, 2)]
    assert serving[0]["metrics"]["seconds"] == pytest.approx(
        serving[0]["metrics"]["serving"]["ttft_s"] + 2 * serving[0]["metrics"]["serving"]["tpot_s"])
    plots.plot_lines(serving, ["batch"], tmp_path / plots.LINES_FILE)
    assert seen[plots.LINES_FILE].axes[0].get_ylabel() == "seconds (latency: prefill + 2 decode steps)"
    plain = [record(f"g{m}", {"m": m}, metrics=metrics_from_report(
        simulate({"model": "gemm", "m": m, "n": 16, "k": 16}, "gemmini").to_dict())) for m in (16, 32)]
    plots.plot_lines(plain, ["m"], tmp_path / "plain.png")
    assert seen["plain.png"].axes[0].get_ylabel() == "seconds (latency)"
    assert plots._label("seconds", ["prefill + 2 decode steps", "prefill + 4 decode steps"]) == \
        "seconds (latency: prefill + decode steps)"  # serving points of several step counts
