"""Probe p101 #2-#7: sweep plots of axes written with units, per-panel heatmap scales, Pareto labels clear of each
other, tick labels in the project's units, failed points named on the console, and an axis that clashes with an
arch preset blamed on its own line. Every figure is drawn from a tiny sweep run through the real runner; the test
catches the figure just before it is saved (``plots._save``)."""

from __future__ import annotations

import io
import itertools
import json
import textwrap
from pathlib import Path

import pytest

from accelsim import units
from accelsim.errors import ConfigError
from accelsim.sweep import plots
from accelsim.sweep.runner import run_sweep

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(autouse=True)
def _close_figures():
    """The figures the tests keep open (:func:`_sweep`) are closed after each test."""
    yield
    plots._pyplot().close("all")


def _sweep(tmp_path, monkeypatch, text: str, **kw):
    """Run the sweep in ``text``; returns (summary, {figure file name: figure}) with each figure laid out and drawn
    as it is saved (the Pareto labels in their final place) and left open to inspect (an empty file is written)."""
    figures = {}

    def keep(plt, fig, path):
        plots._tight(fig)
        fig.canvas.draw()
        figures[Path(path).name] = fig
        Path(path).write_bytes(b"")
        return Path(path)

    monkeypatch.setattr(plots, "_save", keep)
    summary = run_sweep(_write(tmp_path, text), tmp_path / "out", workers=1, progress=False, **kw)
    return summary, figures


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


# ---- #2: values written with units are numbers: sorted, placed at their value, log2 ----------------------------
def test_quantities_parse_units_with_the_config_parsers():
    # by hand: KiB = 1024 B, MiB = 2^20 B; GB/s = 1e9 B/s; ns = 1e-9 s; a name or a mix of kinds is a category
    assert plots.quantities(["64KiB", "1MiB"])[0] == [65536.0, 1048576.0]
    assert plots.quantities(["34GB/s", "2GB/s"])[0] == [34e9, 2e9]
    assert plots.quantities(["500ns", "50ns"])[0] == pytest.approx([500e-9, 50e-9])
    assert plots.quantities(["ws", "os"]) == (None, None)
    assert plots.quantities(["64KiB", "50ns"]) == (None, None)


BANDWIDTH_SWEEP = """\
    name: bw
    base:
      workload: {model: gemm, m: 64, n: 64, k: 64}
      arch: edge-npu
    grid:
      arch.hbm.bandwidth: [64GB/s, 2GB/s, 16GB/s, 4GB/s, 1GB/s]
      arch.hbm.latency: [500ns, 50ns]
    """


def test_unit_axes_are_sorted_by_value_placed_at_it_and_on_log2(tmp_path, monkeypatch):
    _, figs = _sweep(tmp_path, monkeypatch, BANDWIDTH_SWEEP)
    ax = figs[plots.LINES_FILE].axes[0]
    # the values span 64 GB/s / 1 GB/s = 64x >= 8x: a log2 axis (docs/sweeps.md), as for plain numbers
    assert ax.get_xscale() == "log" and ax.xaxis.get_transform().base == 2
    # ticks at the values in bytes per second, ascending (was: 0, 1, 2, 3, 4 in written order), labelled as written
    assert list(ax.get_xticks()) == [1e9, 2e9, 4e9, 16e9, 64e9]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1GB/s", "2GB/s", "4GB/s", "16GB/s", "64GB/s"]
    for line in ax.get_lines():
        xs = list(line.get_xdata())
        assert xs == sorted(xs) and len(xs) == 5
    # the legend (the latency axis, a time) in order of value: 50ns before 500ns (written 500ns first)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["latency=50ns", "latency=500ns"]
    heat = figs[plots.HEATMAP_FILE].axes[0]
    assert [t.get_text() for t in heat.get_yticklabels()] == ["1GB/s", "2GB/s", "4GB/s", "16GB/s", "64GB/s"]
    assert [t.get_text() for t in heat.get_xticklabels()] == ["50ns", "500ns"]


# ---- #3: points that fail while running are named on the console ---------------------------------------------
FAILING_SWEEP = """\
    name: fails
    base:
      workload: {model: gemm, m: 256, n: 256, k: 256}
      arch: gemmini
    grid:
      workload.m: [64, 1024]
      arch.hbm.capacity: [400KiB]
    """


def test_a_point_that_fails_while_running_is_named_with_its_error(tmp_path):
    from rich.console import Console

    # by hand (int8): m=1024 holds A + C = 1024*256 + 1024*256 = 524,288 B of activations, more than 400 KiB =
    # 409,600 B of hbm, so that point fails at run time; m=64 needs 64*256*2 + 256*256 = 98,304 B and runs (400 KiB,
    # not less: gemmini's 256 KiB of scratchpad may not be larger than its main memory, probe p125 #2)
    said = io.StringIO()
    summary = run_sweep(_write(tmp_path, FAILING_SWEEP), tmp_path / "out", workers=1, plots=False,
                        console=Console(file=said, width=1000))
    assert (summary.ok, summary.failed) == (1, 1)
    lines = said.getvalue().splitlines()
    at = lines.index("1 point failed while running:")
    named = lines[at + 1]
    # the sweep file's axis line (line 7) and key, the error, and the point (#1 in expansion order)
    assert named.startswith(f"  {tmp_path / 's.yaml'}:7: arch.hbm.capacity: ") or \
        named.startswith("  s.yaml:7: arch.hbm.capacity: ")
    assert "524288 B" in named and named.endswith("in point #1 (m=1024, capacity=400KiB)")
    assert named.strip() in str(summary)  # what `accelsim sweep -q` prints on stderr
    # run again into the same folder: nothing runs now, and the summary says the failure is an earlier run's
    again = run_sweep(_write(tmp_path, FAILING_SWEEP), tmp_path / "out", workers=1, plots=False, progress=False)
    assert again.ran == 0 and again.failures == ("1 point failed in an earlier run (results.csv's error column says "
                                                 "why)",)


# ---- #4: each heatmap panel has its own colour scale, logarithmic over a span of 100x or more -------------------
def test_heatmap_panels_have_their_own_scale_and_log_over_100x(tmp_path, monkeypatch):
    # panels m=64 and m=256 (other work, never folded); rows: bandwidth; columns: latency. By hand (int8): m=64
    # moves at least A + B = 64*256 + 256*256 = 81,920 B, 3.3 ms at 25 MB/s, m=256 at least 2 * 65,536 B, 5.2 ms;
    # at 64 GB/s the run is some tens of us (edge-npu: 1,024 MACs a cycle at 1 GHz, 256^3 / 1,024 = 16.4 us for
    # m=256): spans of 100x or more. Each panel is scaled over its own cells, log when they span >= 100x.
    summary, figs = _sweep(tmp_path, monkeypatch, """\
        name: heat
        base:
          workload: {model: gemm, m: 64, n: 256, k: 256, dtype: int8}
          arch: edge-npu
        grid:
          arch.hbm.bandwidth: [25MB/s, 64GB/s]
          arch.hbm.latency: [50ns, 500ns]
          workload.m: [64, 256]
        """)
    assert summary.failed == 0
    fig = figs[plots.HEATMAP_FILE]
    recs = _records(tmp_path / "out")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2
    for ax in panels:
        m = int(ax.get_title().split("=")[1])
        own = [r["metrics"]["seconds"] for r in recs if r["point"]["workload.m"] == m]
        norm = ax.images[0].norm
        assert (norm.vmin, norm.vmax) == pytest.approx((min(own), max(own)))
        assert max(own) / min(own) >= plots.LOG_METRIC_SPAN and type(norm).__name__ == "LogNorm"
        assert ax.images[0].colorbar is not None  # a colorbar per panel
    low = [ax.images[0].norm.vmin for ax in panels]
    assert low[0] != pytest.approx(low[1])  # (was one scale over both panels)


# ---- #5, #6 and #4's linear case: the Pareto labels of s3's crowded panel -----------------------------------------
CROWDED_SWEEP = """\
    name: crowd
    base:
      workload: {model: gemm, m: 512, n: 512, k: 512, dtype: int8}
      arch: gemmini
    grid:
      arch: [gemmini, edge-npu]
      arch.hbm.bandwidth: [8GB/s, 16GB/s, 64GB/s]
    """


def _boxes(fig, ax, texts):
    """The labels' text boxes (an annotation's own extent also covers its leader line)."""
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    for t in texts:
        t.update_positions(renderer)
    return [Text.get_window_extent(t, renderer) for t in texts]


def test_pareto_labels_are_clear_of_each_other_and_ticks_use_units(tmp_path, monkeypatch):
    _, figs = _sweep(tmp_path, monkeypatch, CROWDED_SWEEP)
    fig = figs[plots.PARETO_FILE]
    ax = fig.axes[0]
    recs = _records(tmp_path / "out")
    front = json.loads((tmp_path / "out" / "sweep.json").read_text())["pareto"]
    labels = [t for t in ax.texts if t.get_visible() and "arch=" in t.get_text()]
    # every front point labelled (none left off), each label inside the axes and over no other label
    assert len(labels) == len(front) >= 3
    boxes = _boxes(fig, ax, labels)
    frame = ax.get_window_extent(fig.canvas.get_renderer())
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    for b in boxes:
        assert frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1
    # #6: the area spans 0.57 to 8.5 mm2 (>= 10x): a log x axis whose labels are plain numbers, never "2x10^0",
    # and whose visible labels do not run into each other
    assert ax.get_xscale() == "log"
    shown = [t for t in ax.get_xticklabels(minor=True) + ax.get_xticklabels()
             if t.get_text() and frame.x0 <= t.get_window_extent().x0 and t.get_window_extent().x1 <= frame.x1]
    assert shown and not any("10^" in t.get_text() or "times" in t.get_text() or "\\" in t.get_text() for t in shown)
    for a, b in itertools.combinations([t.get_window_extent() for t in shown], 2):
        assert not a.overlaps(b)
    # the energy colorbar in joules with an SI prefix and no offset ("1e-5")
    bar = fig.axes[1]
    texts = [t.get_text() for t in bar.get_yticklabels() if t.get_text()]
    assert texts and all(t.endswith("J") for t in texts) and bar.yaxis.get_offset_text().get_text() == ""
    # #4's linear case: one panel (one workload) spanning 156-576 us (3.7x < 100x): a linear scale over its cells
    heat = figs[plots.HEATMAP_FILE].axes[0]
    secs = [r["metrics"]["seconds"] for r in recs if r["status"] == "ok"]
    assert type(heat.images[0].norm).__name__ == "Normalize"
    assert (heat.images[0].norm.vmin, heat.images[0].norm.vmax) == pytest.approx((min(secs), max(secs)))


def test_latency_ticks_on_a_narrow_range_are_distinct_and_true(tmp_path, monkeypatch):
    # probe p101 s14: edge-npu gemm 512^3 over 8-32 GB/s ran 156.1-156.9 us; the ticks read "157 us" five times
    _, figs = _sweep(tmp_path, monkeypatch, """\
        name: narrow
        base:
          workload: {model: gemm, m: 512, n: 512, k: 512}
          arch: edge-npu
        grid:
          arch.hbm.bandwidth: [8GB/s, 12GB/s, 16GB/s, 24GB/s, 32GB/s]
        """)
    ax = figs[plots.LINES_FILE].axes[0]
    lo, hi = ax.get_ylim()
    ticks = [(loc, label.get_text()) for loc, label in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)
             if lo <= loc <= hi]
    texts = [t for _, t in ticks]
    assert len(ticks) >= 3 and len(set(texts)) == len(texts)
    step = ticks[1][0] - ticks[0][0]
    for loc, text in ticks:  # each label reads back (accelsim's own time parser) to its tick within half a step
        assert units.parse_time(text.replace(" µs", "us").replace(" ", "")) == pytest.approx(loc, abs=step / 2)


def test_a_label_with_no_clear_place_is_left_off_and_noted():
    plt = plots._pyplot()
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    fig.canvas.draw()
    left = plots._label_inside(ax, fig, [(0.5, 0.5, f"a long label number {i}") for i in range(14)])
    boxes = _boxes(fig, ax, [t for t in ax.texts if "long label" in t.get_text()])
    assert left == 14 - len(boxes) and left > 0 and len(boxes) >= 2
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    assert any(t.get_text() == f"{left} labels left off: no clear place" for t in ax.texts)
    plt.close(fig)


# ---- #7: an axis that clashes with the arch preset is blamed on its own line ----------------------------------
def test_an_axis_clashing_with_a_preset_is_reported_at_the_axis_line(tmp_path):
    sweep = _write(tmp_path, """\
        name: s4
        base:
          workload: {model: gemm, m: 256, n: 256, k: 256}
          arch: gemmini
        grid:
          arch: [gemmini, tpu-v1]
          arch.core.sram.unified: [1MiB, 4MiB]
        """)
    preset = ROOT / "arch" / "gemmini.yaml"
    lines = preset.read_text().splitlines()
    split = [next(n for n, line in enumerate(lines, 1) if line.strip().startswith(f"{k}:"))
             for k in ("ifmap", "filter", "ofmap")]
    with pytest.raises(ConfigError) as e:
        run_sweep(sweep, tmp_path / "out", workers=1, progress=False, plots=False)
    text = str(e.value)
    # was "<root>/arch/gemmini.yaml:27: core.sram: ...": now the sweep file's line 7 (the axis), the key set last,
    # naming the preset's split sizes' lines; gemmini splits its scratchpad, tpu-v1 does not, so 2 of the 4 points
    # clash
    assert text.startswith((f"{sweep}:7: arch.core.sram.unified: give either 'unified'",
                            "s.yaml:7: arch.core.sram.unified: give either 'unified'")), text
    assert ", ".join(f"gemmini.yaml:{n}" for n in split) in text.replace("arch/", "")
    assert "in 2 of 4 points, first point #0 (arch=gemmini, unified=1MiB)" in text
