"""What a sweep folder offers to read at scale: the lines plot never takes the best over other work (a workload
axis) and takes a zip group as one axis; results.csv's ``pareto`` column and sweep.json's ``pareto`` ids; column
names without a '*' (a GPU's lock-step SMs) with the utilization columns together and one comparable
``utilization.compute_max``; a diffusion run's per-image figures."""

from __future__ import annotations

import csv
import itertools
import json
import random
import textwrap

import pytest

from accelsim.config.sweep import load_sweep
from accelsim.sweep import plots
from accelsim.sweep.expand import plan_sweep
from accelsim.sweep.runner import plot_sweep, run_sweep
from accelsim.sweep.store import (
    CSV_FILE,
    RESULTS_FILE,
    SWEEP_FILE,
    metrics_from_report,
    ordered_records,
    record,
    row_metrics,
    stream_csv,
    table,
    write_csv,
    write_sweep_json,
)

MIX = """\
name: mix
base:
  workload: {model: gemm, m: 256, n: 256, k: 256}
  arch: tpu-v1
grid:
  arch: [tpu-v1, gemmini]
zip:
  - workload.m: [128, 256]
    workload.k: [128, 256]
  - options.activations_on_chip: [true, false]
    workload.batch: [1, 4]
"""


def _folder(tmp_path, text: str, metrics_of) -> tuple:
    """A sweep folder of the points the real sweep planner gives for ``text`` (not run), each with the
    ``metrics_of(values)`` given by the test."""
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(text))
    spec = load_sweep(path)
    points = plan_sweep(spec).points
    out = tmp_path / "out"
    out.mkdir()
    write_sweep_json(out, {"name": spec.name, "axes": list(spec.keys), "ids": [p.id for p in points],
                           "zip": spec.describe()["zip"]})
    lines = [json.dumps(record(p.id, p.values, metrics=metrics_of(p.values))) + "\n" for p in points]
    (out / RESULTS_FILE).write_text("".join(lines))
    return out, points


def _seconds(values) -> float:
    # made-up latencies: batch x m µs, twice as long on gemmini; a batch-4 run is always the slower one
    return values["workload.batch"] * values["workload.m"] * 1e-6 * (2 if values["arch"] == "gemmini" else 1)


def test_the_lines_keep_every_workload_and_take_a_zip_group_as_one_axis(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    out, points = _folder(tmp_path, MIX, lambda v: {"seconds": _seconds(v)})
    assert len(points) == 2 * 2 * 2  # arch x the (m, k) zip x the (activations_on_chip, batch) zip
    drawn, titles = [], []
    real_plot, real_save = Axes.plot, plots._save

    def spy(self, x, y, *args, label=None, **kwargs):
        drawn.append((self, label, list(y)))
        return real_plot(self, x, y, *args, label=label, **kwargs)

    def save(plt, fig, path):
        if path.name == plots.LINES_FILE:
            titles.append(fig._suptitle.get_text())
        return real_save(plt, fig, path)

    monkeypatch.setattr(Axes, "plot", spy)
    monkeypatch.setattr(plots, "_save", save)
    plot_sweep(out)
    # x: arch; a line per (m, k) (one axis: "best over k" would be over one value); a panel per (activations_on_chip,
    # batch) (a workload axis in the group: never folded). Each line: (tpu-v1, gemmini) = (1, 2) x batch x m µs
    lines = {(ax.get_title(), label): y for ax, label, y in drawn}
    assert lines == {
        ("activations_on_chip=True, batch=1", "m=128, k=128"): pytest.approx([128e-6, 256e-6]),
        ("activations_on_chip=True, batch=1", "m=256, k=256"): pytest.approx([256e-6, 512e-6]),
        ("activations_on_chip=False, batch=4", "m=128, k=128"): pytest.approx([512e-6, 1024e-6]),  # batch 4 kept
        ("activations_on_chip=False, batch=4", "m=256, k=256"): pytest.approx([1024e-6, 2048e-6]),
    }
    assert titles == ["mix: seconds vs arch"]  # nothing folded


def test_a_non_workload_axis_is_still_folded_but_a_workload_one_never(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    # axes: rows (x), dataflow (series), the clock (not work: folded, best over it), batch (work: a panel each)
    text = """\
    name: fold
    base: {workload: {model: gemm, m: 64, n: 64, k: 64}, arch: tpu-v1}
    grid:
      arch.core.systolic.rows: [8, 16]
      arch.core.systolic.dataflow: [ws, os]
      arch.clock: [500MHz, 1GHz]
      workload.batch: [1, 2]
    """
    clock = {"500MHz": 2.0, "1GHz": 1.0}  # made-up: the 1 GHz clock halves the time

    out, _ = _folder(tmp_path, text, lambda v: {"seconds": v["workload.batch"] * clock[v["arch.clock"]]
                                                 * v["arch.core.systolic.rows"]})
    drawn, titles = [], []
    real_plot, real_save = Axes.plot, plots._save
    monkeypatch.setattr(Axes, "plot", lambda self, x, y, *a, label=None, **k: (
        drawn.append((self, label, list(y))), real_plot(self, x, y, *a, label=label, **k))[1])
    monkeypatch.setattr(plots, "_save", lambda plt, fig, path: (titles.append(fig._suptitle.get_text()),
                                                                real_save(plt, fig, path))[1])
    plots.plot_lines(ordered_records(out), ["arch.core.systolic.rows", "arch.core.systolic.dataflow", "arch.clock",
                                            "workload.batch"], tmp_path / "l.png", name="fold")
    # best over the clock (the 1 GHz runs): batch x rows; both dataflows the same made-up time
    assert sorted((ax.get_title(), label, y) for ax, label, y in drawn) == [
        ("batch=1", "dataflow=os", [8, 16]), ("batch=1", "dataflow=ws", [8, 16]),
        ("batch=2", "dataflow=os", [16, 32]), ("batch=2", "dataflow=ws", [16, 32])]
    assert titles == ["fold: seconds vs rows (best over clock)"]


def test_the_latency_axis_is_logarithmic_only_when_a_panel_spans_a_hundredfold(tmp_path, monkeypatch):
    # made-up latencies: a collective-like sweep, 1 µs x (bytes / 64 KiB); 64 KiB .. 16 MiB spans 256x (>= 100: log),
    # 64 KiB .. 1 MiB spans 16x (linear, as before)
    scales = []
    real_save = plots._save
    monkeypatch.setattr(plots, "_save", lambda plt, fig, path: (
        scales.append([ax.get_yscale() for ax in fig.axes]), real_save(plt, fig, path))[1])
    size = {"64KiB": 1, "1MiB": 16, "16MiB": 256}
    for top, expected in (("16MiB", "log"), ("1MiB", "linear")):
        text = f"""\
        name: span
        base: {{workload: {{model: collective, op: all_reduce, bytes: 64KiB}}, arch: dgx-h100}}
        grid:
          workload.bytes: [64KiB, {top}]
          arch: [dgx-a100, dgx-h100]
        """
        sub = tmp_path / top
        sub.mkdir()
        out, _ = _folder(sub, text, lambda v: {"seconds": 1e-6 * size[v["workload.bytes"]]})
        plots.plot_lines(ordered_records(out), ["workload.bytes", "arch"], sub / "l.png", name="span")
        assert scales[-1] == [expected]


def _brute_front(rows) -> set:
    """Indices of ``rows`` ((group, (latency, area, energy)) or (group, None)) that no point of their group beats:
    another is at most as large everywhere and smaller somewhere, or equal everywhere and earlier."""
    on = set()
    for i, (g, p) in enumerate(rows):
        if p is None:
            continue
        beaten = False
        for j, (h, q) in enumerate(rows):
            if j == i or h != g or q is None:
                continue
            if all(a <= b for a, b in zip(q, p, strict=True)) and (q != p or j < i):
                beaten = True
        if not beaten:
            on.add(i)
    return on


def test_the_pareto_column_is_each_workloads_brute_force_front(tmp_path):
    # 2 batches (work: separate fronts) x 12 made-up designs; small integers, so ties and equal points abound
    rng = random.Random(7)
    values = [(rng.randint(1, 4), rng.randint(1, 4), rng.randint(1, 4)) for _ in range(24)]
    recs, rows = [], []
    for i, (batch, design) in enumerate(itertools.product([1, 2], range(12))):
        s, a, e = values[i]
        point = {"arch.clock": f"{design}GHz", "workload.batch": batch}
        if design == 5:  # a failed point and one without energy (an arch without an energy block): not ranked
            recs.append(record(f"p{i}", point, error="boom"))
            rows.append((batch, None))
        elif design == 6:
            recs.append(record(f"p{i}", point, metrics={"seconds": s, "area_mm2": a}))
            rows.append((batch, None))
        elif design == 7:  # an older record: area_mm2 and energy_j stand in for the system's (as in the plot)
            recs.append(record(f"p{i}", point, metrics={"seconds": s, "area_mm2": a, "energy_j": e}))
            rows.append((batch, (s, a, e)))
        else:
            recs.append(record(f"p{i}", point, metrics={"seconds": s, "system_area_mm2": a, "system_energy_j": e,
                                                        "area_mm2": 99, "energy_j": 99}))
            rows.append((batch, (s, a, e)))
    front = _brute_front(rows)
    assert 0 < len(front) < 22
    axes = ["arch.clock", "workload.batch"]
    header, table_rows = table(recs, axes)
    col = header.index("pareto")
    expected = ["" if p is None else "true" if i in front else "false" for i, (_, p) in enumerate(rows)]
    assert [r[col] for r in table_rows] == expected
    # the streamed table is the same, and sweep.json lists the front's ids (accelsim plot rewrites both)
    out = tmp_path / "out"
    out.mkdir()
    write_sweep_json(out, {"name": "front", "axes": axes, "ids": [r["id"] for r in recs]})
    (out / RESULTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in recs))
    write_csv(out, recs, axes)
    held = (out / CSV_FILE).read_text()
    stream_csv(out, json.loads((out / SWEEP_FILE).read_text()))
    assert (out / CSV_FILE).read_text() == held
    plot_sweep(out)
    assert json.loads((out / SWEEP_FILE).read_text())["pareto"] == [f"p{i}" for i in sorted(front)]


def test_gpu_columns_have_no_star_and_utilization_columns_are_together_and_sorted():
    gpu = {"seconds": 1.0, "utilization": {"core*.systolic0": 0.5, "core*.vector": 0.1, "hbm": 0.3, "launch": 0.2}}
    tpu = {"seconds": 2.0, "utilization": {"core1.systolic0": 0.7, "core0.systolic0": 0.9, "core0.vector": 0.2,
                                           "core10.vector": 0.1, "hbm": 0.95}, "bytes": {"hbm": 5}}
    header, rows = table([record("g", {"arch": "a100"}, metrics=gpu), record("t", {"arch": "tpu-v4"}, metrics=tpu)],
                         ["arch"])
    assert not any("*" in h for h in header)
    # together where the first appears (after seconds, before bytes), sorted with core10 after core1
    assert header == ["id", "arch", "status", "pareto", "seconds", "utilization.compute_max",
                      "utilization.core0.systolic0", "utilization.core0.vector", "utilization.core1.systolic0",
                      "utilization.core10.vector", "utilization.cores.systolic0", "utilization.cores.vector",
                      "utilization.hbm", "utilization.launch", "bytes.hbm", "error"]
    # compute_max: the busiest compute unit, memory (hbm 0.95) and the launch host left out: 0.5 and 0.9
    assert [r[header.index("utilization.compute_max")] for r in rows] == [0.5, 0.9]


def test_a_real_gpu_and_tpu_sweep_shares_one_compute_column(tmp_path):
    path = tmp_path / "gpu.yaml"
    path.write_text(textwrap.dedent("""\
    name: gpu
    base: {workload: {model: gemm, m: 128, n: 128, k: 128, dtype: bf16}, arch: a100}
    grid:
      arch: [a100, tpu-v4]
    """))
    out = tmp_path / "out"
    run_sweep(path, out, workers=1, progress=False, plots=False)
    with open(out / CSV_FILE) as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    assert header is not None and not any("*" in h for h in header)
    for row in rows:  # each the largest of its own cores' compute-unit columns
        cores = [float(v) for k, v in row.items() if v and (k.startswith("utilization.core"))]
        assert cores and float(row["utilization.compute_max"]) == max(cores)
    assert {r["arch"] for r in rows if r["utilization.cores.systolic0"]} == {"a100"}
    # probe p71 #5: report.json's bandwidth_share, a column per level right after the utilization ones (a100's
    # levels innermost first; tpu-v4's scratchpad has no bandwidth, so no share)
    util = [h for h in header if h.startswith("utilization.")]
    at = header.index(util[-1]) + 1
    assert header[at:at + 4] == [f"bandwidth_share.{lv}" for lv in ("sram", "l2", "hbm", "host")]
    # each point reads A, B and C (128 x 128 bf16: 32,768 B each) from HBM once: 98,304 B over its seconds at the
    # preset's HBM bandwidth (a100 2,039 GB/s, tpu-v4 1,200 GB/s)
    bw = {"a100": 2.039e12, "tpu-v4": 1.2e12}
    for row in rows:
        assert int(row["bytes.hbm"]) == 3 * 128 * 128 * 2
        assert float(row["bandwidth_share.hbm"]) == pytest.approx(3 * 128 * 128 * 2 / (bw[row["arch"]]
                                                                                       * float(row["seconds"])))
        assert float(row["bandwidth_share.host"]) == 0.0  # nothing crosses the host link
    assert [r["bandwidth_share.sram"] == "" for r in rows] == [r["arch"] == "tpu-v4" for r in rows]


def test_a_diffusion_runs_per_image_figures_are_columns():
    # a made-up report: a text encoder once (0.5 s) and a denoiser 50 times (0.1 s each: 5 s) for a batch of 2
    report = {"seconds": 5.5, "diffusion": {
        "batch": 2, "seconds_per_image": 2.75, "images_per_s": 2 / 5.5,
        "parts": [{"part": "text_encoder", "count": 1, "params": 1, "cycles": 5, "seconds": 0.5, "total_seconds": 0.5},
                  {"part": "unet", "count": 50, "params": 2, "cycles": 1, "seconds": 0.1, "total_seconds": 5.0}]}}
    cells = row_metrics(metrics_from_report(report))
    assert cells["diffusion.seconds_per_image"] == 2.75 and cells["diffusion.images_per_s"] == pytest.approx(2 / 5.5)
    assert cells["diffusion.text_encoder_s"] == 0.5 and cells["diffusion.unet_s"] == 5.0
    assert cells["diffusion.batch"] == 2
