"""Sweeps end to end: results.jsonl, resume after SIGKILL, Ctrl-C, failing points, growing a sweep, the Dask
executor against the local pool, results.csv and the plots.

Expected point counts are hand products of the axes written in each sweep file; "identical" compares each id's
metrics with those of an independent, uninterrupted run.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from rich.console import Console

from accelsim.config.sweep import load_sweep
from accelsim.errors import AccelsimError, ConfigError
from accelsim.sweep import executors, expand, runner
from accelsim.sweep.executors import Chunker
from accelsim.sweep.expand import invalid_point_id, plan_sweep
from accelsim.sweep.runner import is_sweep_dir, plot_sweep, run_sweep

REPO = Path(__file__).resolve().parents[2]
ROWS, COLS, DF = "arch.core.systolic.rows", "arch.core.systolic.cols", "arch.core.systolic.dataflow"

# LeNet-5 on gemmini: about 2 ms a point, for the quick tests. 3 rows x 2 dataflows = 6 points.
SMALL = f"""\
name: small
base:
  workload: {{model: lenet5, batch: 1}}
  arch: gemmini
grid:
  {ROWS}: [8, 16, 32]
  {DF}: [ws, os]
"""
# ResNet-50 on TPU v1: ~25 ms a point; 8 rows x 4 cols x 2 dataflows = 64 points, long enough to kill half-way.
LONG = f"""\
name: long
base: resnet50_tpu_v1
grid:
  {ROWS}: {{start: 32, stop: 256, step: 32}}
  {COLS}: [32, 64, 128, 256]
  {DF}: [ws, os]
"""


def write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def records(outdir: Path) -> list[dict]:
    return [json.loads(line) for line in (outdir / "results.jsonl").read_text().splitlines()]


def line_of(path: Path, text: str) -> int:
    """1-based line of the first line of ``path`` containing ``text``."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def by_id(outdir: Path) -> dict[str, dict]:
    return {r["id"]: r for r in records(outdir)}


def test_a_sweep_writes_one_record_per_point_and_the_table(tmp_path):
    path = write(tmp_path, SMALL)
    out = tmp_path / "out"
    summary = run_sweep(path, out, workers=1, progress=False, plots=False)
    assert (summary.points, summary.ran, summary.ok, summary.failed, summary.exit_status) == (6, 6, 6, 0, 0)
    recs = records(out)
    plan = plan_sweep(load_sweep(path))
    assert sorted(r["id"] for r in recs) == sorted(p.id for p in plan.points)
    rec = next(r for r in recs if r["point"] == {ROWS: 16, DF: "os"})
    assert rec["status"] == "ok" and "error" not in rec
    m = rec["metrics"]
    # the metrics are report.json's totals plus the size figures (16x16 gemmini = 256 MACs per cycle) and its
    # energy, power and area
    assert m["peak_macs_per_cycle"] == 16 * 16 and m["energy_j"] > 0 and m["area_mm2"] > 0
    assert m["seconds"] == pytest.approx(m["total_cycles"] / m["clock_hz"])
    assert set(m["bytes"]) >= {"hbm", "sram"} and "ops" not in m
    # results.csv: one row per point in sweep order, columns id, axes, status, pareto, metrics, error
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(int(r[ROWS]), r[DF]) for r in rows] == [(8, "ws"), (8, "os"), (16, "ws"), (16, "os"), (32, "ws"),
                                                     (32, "os")]
    header = next(csv.reader(open(out / "results.csv")))
    assert header[:6] == ["id", ROWS, DF, "status", "pareto", "total_cycles"] and header[-1] == "error"
    info = json.loads((out / "sweep.json").read_text())
    assert info["points"] == 6 and info["axes"] == [ROWS, DF] and info["ids"] == [p.id for p in plan.points]
    assert is_sweep_dir(out) and not is_sweep_dir(tmp_path)
    # a re-run finds every id done and runs nothing
    again = run_sweep(path, out, workers=1, progress=False, plots=False)
    assert (again.ran, again.skipped, again.ok) == (0, 6, 6)
    assert len(records(out)) == 6


def test_one_point_runs_alone_into_a_report_folder_with_its_rows_numbers(tmp_path, capsys):
    # probe p33 finding 6: a sweep kept no report of its best point; --point ID writes the one 'accelsim run' would,
    # inside the sweep's folder, with the numbers of its results.csv row (the same experiment, simulated the same way)
    from accelsim.cli import main

    path = write(tmp_path, SMALL)
    out = tmp_path / "out"
    run_sweep(path, out, workers=1, progress=False, plots=False)
    rec = next(r for r in records(out) if r["point"] == {ROWS: 16, DF: "os"})
    assert main(["sweep", str(path), "-o", str(out), "--point", rec["id"], "--no-plots", "-q"]) == 0
    report = json.loads((out / f"point_{rec['id']}" / "report.json").read_text())
    assert (report["total_cycles"], report["macs"]) == (rec["metrics"]["total_cycles"], rec["metrics"]["macs"])
    assert report["arch"]["peak_macs_per_cycle"] == 16 * 16  # the point's 16 x 16 array, not the base's
    assert main(["compare", str(out / f"point_{rec['id']}"), str(out / f"point_{rec['id']}")]) == 0
    capsys.readouterr()
    assert main(["sweep", str(path), "-o", str(out), "--point", "0123456789abcdef", "-q"]) == 2
    assert capsys.readouterr().err.strip() == (f"accelsim: error: --point: no point of {path} has the id "
                                               "'0123456789abcdef' (the ids are results.csv's id column)")
    # the folder stays a sweep's: a re-run reuses every point
    again = run_sweep(path, out, workers=1, progress=False, plots=False)
    assert (again.ran, again.skipped) == (0, 6)


def test_growing_a_sweep_runs_only_the_new_points(tmp_path):
    out = tmp_path / "out"
    run_sweep(write(tmp_path, SMALL), out, workers=1, progress=False, plots=False)
    grown = SMALL.replace("[8, 16, 32]", "[8, 16, 32, 64]").replace("[ws, os]", "[ws, os, is]")
    summary = run_sweep(write(tmp_path, grown), out, workers=1, progress=False, plots=False)
    # 4 rows x 3 dataflows = 12 points; the 6 of the first sweep are already done
    assert (summary.points, summary.skipped, summary.ran) == (12, 6, 6)
    assert len(records(out)) == 12 and len(by_id(out)) == 12


def test_points_reused_after_an_axis_is_added_take_its_values(tmp_path):
    # the base's batch is 1, so the points of a new axis workload.batch at 1 are the first sweep's 6 points (same
    # resolved config, same id): reused, and shown with batch 1 in results.csv, not an empty cell
    out = tmp_path / "out"
    run_sweep(write(tmp_path, SMALL), out, workers=1, progress=False, plots=False)
    grown = SMALL + "  workload.batch: [1, 2]\n"
    summary = run_sweep(write(tmp_path, grown), out, workers=1, progress=False, plots=False)
    assert (summary.points, summary.skipped, summary.ran) == (12, 6, 6)  # 3 rows x 2 dataflows x 2 batches
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["workload.batch"] for r in rows) == ["1"] * 6 + ["2"] * 6
    assert len(records(out)) == 6 + 6 + 6  # the reused records once more, with the new axis
    run_sweep(write(tmp_path, grown), out, workers=1, progress=False, plots=False)
    assert len(records(out)) == 18  # the same axes again: nothing appended


def test_a_respelled_axis_value_relabels_the_reused_points(tmp_path):
    # probe p283 #4: 3350GB/s and 3.35TB/s (and 1TB/s and 1000GB/s) are one bandwidth, 3.35e12 B/s (1e12 B/s), so one
    # id each: nothing runs again, but results.csv showed the old spelling while sweep.json showed the new one
    out = tmp_path / "out"
    first = SMALL.replace(f"  {DF}: [ws, os]\n", "  arch.hbm.bandwidth: [3350GB/s, 1TB/s]\n")
    run_sweep(write(tmp_path, first), out, workers=1, progress=False, plots=False)
    again = first.replace("[3350GB/s, 1TB/s]", "[3.35TB/s, 1000GB/s]")
    summary = run_sweep(write(tmp_path, again), out, workers=1, progress=False, plots=False)
    assert (summary.points, summary.skipped, summary.ran) == (6, 6, 0)  # 3 rows x 2 bandwidths, all reused
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    # in sweep order: each row's 2 bandwidths as the file now writes them
    assert [r["arch.hbm.bandwidth"] for r in rows] == ["3.35TB/s", "1000GB/s"] * 3
    info = json.loads((out / "sweep.json").read_text())
    assert info["grid"]["arch.hbm.bandwidth"] == ["3.35TB/s", "1000GB/s"] and "relabel_from" not in info
    recs = records(out)
    assert len(recs) == 6 + 6  # each reused record once more, relabelled, keeping the code that computed it
    assert [r["code"] for r in recs[6:]] == [r["code"] for r in recs[:6]]
    assert [r["metrics"] for r in recs[6:]] == [r["metrics"] for r in recs[:6]]
    run_sweep(write(tmp_path, again), out, workers=1, progress=False, plots=False)
    assert len(records(out)) == 12  # the same spellings again: nothing appended


def _lenet_with_a_32kib_hbm(tmp_path, dataflows: str):
    """A sweep of LeNet-5 on gemmini without host memory over HBM 8 GiB and 32 KiB (and ``dataflows``): a 32 KiB HBM
    cannot hold its 62,414 B of weights, a MappingError at run time, not a bad config. The scratchpad is cut to
    8 + 8 + 16 = 32 KiB, so it is not larger than that HBM (refused before any point runs since probe p125 #2)."""
    return write(tmp_path, f"""\
        base:
          workload: {{model: lenet5, batch: 1}}
          arch: gemmini
        set: {{arch.host: null, arch.core.sram.ifmap: 8KiB, arch.core.sram.filter: 8KiB, arch.core.sram.ofmap: 16KiB}}
        grid:
          arch.hbm.capacity: [8GiB, 32KiB]
          {DF}: {dataflows}
        """)


def test_a_failing_point_records_its_one_line_error_and_the_sweep_goes_on(tmp_path):
    # a 32 KiB HBM without host memory cannot hold LeNet-5's weights: a MappingError at run time, not a bad config
    path = _lenet_with_a_32kib_hbm(tmp_path, "[ws, os]")
    out = tmp_path / "out"
    summary = run_sweep(path, out, workers=2, progress=False, plots=False)
    assert (summary.points, summary.ok, summary.failed, summary.exit_status) == (4, 2, 2, 1)
    failed = [r for r in records(out) if r["status"] == "error"]
    assert sorted(r["point"][DF] for r in failed) == ["os", "ws"]
    for r in failed:
        assert r["point"]["arch.hbm.capacity"] == "32KiB" and r["metrics"] == {}
        assert "\n" not in r["error"] and "hbm (32768 B)" in r["error"]
        # at the axis that set the too-small capacity (docs/sweeps.md), with the value it gave
        axis = line_of(path, "arch.hbm.capacity")
        assert r["error"].startswith(f"{path}:{axis}: arch.hbm.capacity: lenet5: "), r["error"]
        assert r["error"].endswith("(got '32KiB')")
    # failed points are finished points: a re-run does not repeat them
    assert run_sweep(path, out, workers=1, progress=False, plots=False).ran == 0


def test_a_bad_axis_key_fails_before_any_point_runs(tmp_path):
    path = write(tmp_path, SMALL.replace(ROWS, "arch.core.systolic.rowz"))
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as info:
        run_sweep(path, out, workers=1, progress=False)
    (line,) = str(info.value).splitlines()
    assert "sweep.yaml:6: arch.core.systolic.rowz: Extra inputs are not permitted; did you mean 'rows'?" in line
    assert not out.exists()  # nothing ran, nothing was written


def test_bad_executor_arguments_are_one_line_errors(tmp_path):
    path = write(tmp_path, SMALL)
    with pytest.raises(AccelsimError, match="unknown executor 'slurm'"):
        run_sweep(path, tmp_path / "o", executor="slurm", progress=False)
    with pytest.raises(AccelsimError, match=r"workers\(=0\) must be"):
        run_sweep(path, tmp_path / "o", workers=0, progress=False)
    with pytest.raises(AccelsimError, match="goes with the dask executor"):
        run_sweep(path, tmp_path / "o", scheduler="tcp://localhost:8786", progress=False)
    assert not (tmp_path / "o").exists()


def test_the_dask_executor_without_dask_is_a_one_line_error(tmp_path, monkeypatch):
    for name in ("dask", "dask.distributed", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)  # as if the dask extra were not installed
    with pytest.raises(AccelsimError) as info:
        run_sweep(write(tmp_path, SMALL), tmp_path / "o", executor="dask", progress=False)
    (line,) = str(info.value).splitlines()
    assert line.endswith('pip install "accelsim[dask]"')
    assert not (tmp_path / "o").exists()


def test_an_unreachable_scheduler_is_refused_before_outdir_is_written(tmp_path, monkeypatch):
    # probe p283 #2: the scheduler was reached only once the first point was planned, so an address nothing answers
    # (distributed's Client gives up after the 30 s timeout: stood in for here by a Client that raises at once) left
    # a sweep.json claiming "complete", an empty results.jsonl and a header-only results.csv behind
    distributed = pytest.importorskip("dask.distributed")
    calls = []

    def unreachable(address, timeout):
        calls.append((address, timeout))
        raise OSError(f"Timed out trying to connect to {address} after {timeout}")

    monkeypatch.setattr(distributed, "Client", unreachable)
    path, address = write(tmp_path, SMALL), "tcp://127.0.0.1:1"
    message = (f"cannot reach the Dask scheduler at {address}: OSError: Timed out trying to connect to {address} "
               f"after 30s")
    with pytest.raises(AccelsimError) as info:
        run_sweep(path, tmp_path / "new", executor="dask", scheduler=address, progress=False)
    assert str(info.value) == message and calls == [(address, "30s")]
    assert not (tmp_path / "new").exists()  # nothing written, not even the folder or its lock
    # into a folder an earlier run wrote: every file of it as it was
    out = tmp_path / "out"
    run_sweep(path, out, workers=1, progress=False, plots=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(AccelsimError, match="cannot reach the Dask scheduler"):
        run_sweep(path, out, executor="dask", scheduler=address, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_the_lines_draw_the_best_latency_not_the_fewest_cycles(tmp_path, monkeypatch):
    # the clock swept over 7 values (more than MAX_PANELS: folded, "best over clock"): a slower clock waits fewer
    # cycles for the same memory, so the fewest cycles was the slowest clock's and the plot ranked it best; what
    # is drawn must be each (rows, dataflow)'s least seconds (= total_cycles / clock_hz) over the clocks
    from matplotlib.axes import Axes

    clocks = ["250MHz", "500MHz", "750MHz", "1GHz", "1250MHz", "1500MHz", "2GHz"]
    path = write(tmp_path, SMALL.replace("[8, 16, 32]", "[8, 16]") + f"  arch.clock: [{', '.join(clocks)}]\n")
    out = tmp_path / "out"
    run_sweep(path, out, workers=1, progress=False, plots=False)
    drawn = {}
    real = Axes.plot

    def spy(self, x, y, *args, label=None, **kwargs):
        drawn[label] = list(y)
        return real(self, x, y, *args, label=label, **kwargs)

    monkeypatch.setattr(Axes, "plot", spy)
    plot_sweep(out)
    recs = records(out)
    assert len(recs) == 2 * 2 * 7
    for df in ("ws", "os"):
        expected = [min(r["metrics"]["total_cycles"] / r["metrics"]["clock_hz"] for r in recs
                        if r["point"][DF] == df and r["point"][ROWS] == rows) for rows in (8, 16)]
        assert drawn[f"{DF.rsplit('.', 1)[-1]}={df}"] == pytest.approx(expected, rel=1e-9)
        fewest_cycles = [min((r["metrics"]["total_cycles"], r["point"]["arch.clock"]) for r in recs
                             if r["point"][DF] == df and r["point"][ROWS] == rows)[1] for rows in (8, 16)]
        assert fewest_cycles != ["2GHz", "2GHz"]  # what the cycles ranked best is not the fastest clock


def test_the_pareto_fronts_labels_lie_inside_the_axes_and_apart(tmp_path, monkeypatch):
    # each label ran up and to the right of its point: the point of the largest area, at the axes' right edge, had
    # its label under the colorbar
    from accelsim.sweep import plots

    out = tmp_path / "out"
    run_sweep(write(tmp_path, SMALL), out, workers=1, progress=False, plots=False)
    seen = {}
    real = plots._save

    def check(plt, fig, path):
        if path.name == plots.PARETO_FILE:
            ax = fig.axes[0]
            fig.tight_layout()  # as saved
            renderer = fig.canvas.get_renderer()
            frame = ax.get_window_extent(renderer)
            boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_visible()]
            seen["labels"] = len(boxes)
            for i, box in enumerate(boxes):
                assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
                assert not any(box.overlaps(other) for other in boxes[:i])
        return real(plt, fig, path)

    monkeypatch.setattr(plots, "_save", check)
    plot_sweep(out)
    # the front of SMALL (area, seconds, energy) has at least the smallest-area and the fastest point; both labelled
    assert seen["labels"] >= 2


def test_plots_are_chosen_from_the_axes_and_redrawn_from_the_folder(tmp_path):
    out = tmp_path / "out"
    summary = run_sweep(write(tmp_path, SMALL), out, workers=1, progress=False)
    names = sorted(p.name for p in summary.files)
    # two varying axes: a line plot, a heatmap and the Pareto front
    assert names == ["results.csv", "sweep_heatmap.png", "sweep_lines.png", "sweep_pareto.png"]
    for name in names[1:]:
        (out / name).unlink()
    (out / "results.csv").unlink()
    redrawn = plot_sweep(out)
    assert sorted(p.name for p in redrawn) == names and all(p.stat().st_size > 1000 for p in redrawn)
    with pytest.raises(AccelsimError, match="no sweep.json"):
        plot_sweep(tmp_path)


def _start(sweep: Path, out: Path) -> subprocess.Popen:
    code = f"from accelsim.sweep.runner import run_sweep; run_sweep({str(sweep)!r}, {str(out)!r}, workers=1, " \
           f"progress=False, plots=False)"
    return subprocess.Popen([sys.executable, "-c", code], cwd=out.parent, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_lines(out: Path, n: int, proc: subprocess.Popen, timeout: float = 60.0) -> int:
    path = out / "results.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_bytes().count(b"\n")
            if lines >= n:
                return lines
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended before {n} points were stored: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.01)
    pytest.fail(f"fewer than {n} points stored after {timeout} s")


def _group_gone(pgid: int, timeout: float = 10.0) -> bool:
    """True once no process of the group is left (the sweep's workers and forkserver exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_sweep_killed_with_sigkill_resumes_to_the_same_results(tmp_path):
    path = write(tmp_path, LONG)
    reference = tmp_path / "reference"
    run_sweep(path, reference, workers=1, progress=False, plots=False)
    expected = by_id(reference)
    assert len(expected) == 8 * 4 * 2

    out = tmp_path / "killed"
    proc = _start(path, out)
    stored = _wait_for_lines(out, 4, proc)
    os.kill(proc.pid, signal.SIGKILL)  # the sweep process only: its workers must notice and exit by themselves
    proc.wait()
    assert _group_gone(proc.pid), "workers outlived the killed sweep"
    assert stored < len(expected), "the sweep finished before it was killed"
    with open(out / "results.jsonl", "ab") as f:  # as if the kill had landed in the middle of a write
        f.write(b'{"id":"0123456789abcdef","point":{"arch.core.sys')
    before = len((out / "results.jsonl").read_text().splitlines()) - 1

    summary = run_sweep(path, out, workers=2, progress=False, plots=False)
    assert summary.skipped == before and summary.ran == len(expected) - before
    got = records(out)
    ids = [r["id"] for r in got]
    assert len(ids) == len(set(ids)) == len(expected)  # every point exactly once, the torn line gone
    assert {i: r["metrics"] for i, r in by_id(out).items()} == {i: r["metrics"] for i, r in expected.items()}
    assert {i: r["point"] for i, r in by_id(out).items()} == {i: r["point"] for i, r in expected.items()}
    # results.csv rows in the same sweep order, with identical metrics
    assert (out / "results.csv").read_text() == (reference / "results.csv").read_text()


def test_ctrl_c_stops_cleanly_and_keeps_what_finished(tmp_path):
    path = write(tmp_path, LONG)
    out = tmp_path / "out"
    proc = _start(path, out)
    _wait_for_lines(out, 4, proc)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group, workers included
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0 and b"KeyboardInterrupt" in err
    assert _group_gone(proc.pid)
    kept = records(out)  # every line whole
    assert 4 <= len(kept) < 64
    with open(out / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == len(kept)


def test_dask_gives_the_same_results_as_the_local_pool(tmp_path, capfd):
    pytest.importorskip("distributed")
    path = write(tmp_path, SMALL)
    local = run_sweep(path, tmp_path / "local", workers=2, progress=False, plots=False)
    dask = run_sweep(path, tmp_path / "dask", executor="dask", workers=2, progress=False, plots=False)
    assert "Traceback" not in capfd.readouterr().err  # the workers' too (fd 2): none at the cluster's close
    assert dask.executor.startswith("dask") and (dask.ran, dask.ok) == (local.ran, local.ok) == (6, 6)
    assert by_id(tmp_path / "dask") == by_id(tmp_path / "local")
    assert (tmp_path / "dask" / "results.csv").read_text() == (tmp_path / "local" / "results.csv").read_text()


def test_the_ready_sweep_expands_as_documented():
    plan = plan_sweep(load_sweep("resnet50_array_dataflow_sweep"))
    # rows, cols in {16, 32, 64, 128, 256}: 25 shapes, of which 6 have an aspect ratio over 4 ((16,128), (16,256),
    # (32,256) and their transposes); 19 shapes x 3 dataflows = 57 points of 75
    assert (plan.expanded, plan.filtered, len(plan.points)) == (75, 18, 57)
    assert {p.experiment.arch.name for p in plan.points} == {"tpu-v1"}


# ---- planning as a stream ------------------------------------------------------------------------------------------
@pytest.fixture
def streamed(monkeypatch):
    """Plan as a big sweep does: check() validates only the first point and probes nothing, so the points after it
    are validated while they run (the sweeps below are too small to reach the 500 points checked by default)."""
    monkeypatch.setattr(expand, "PRIME_POINTS", 1)
    monkeypatch.setattr(expand, "MAX_PROBES", 0)


def test_a_bad_value_found_while_streaming_is_an_error_record(tmp_path, streamed):
    path = write(tmp_path, SMALL.replace("[8, 16, 32]", "[8, 16, -1]"))
    out = tmp_path / "out"
    buf = io.StringIO()
    summary = run_sweep(path, out, workers=1, console=Console(file=buf, width=300), plots=False)
    # 3 rows x 2 dataflows = 6 points; rows=-1 (#4 and #5) do not validate: recorded as errors, the rest run
    assert (summary.points, summary.ran, summary.ok, summary.failed, summary.exit_status) == (6, 6, 4, 2, 1)
    bad = [r for r in records(out) if r["status"] == "error"]
    rows_line = line_of(path, ROWS)
    assert [r["point"] for r in bad] == [{ROWS: -1, DF: "ws"}, {ROWS: -1, DF: "os"}]
    assert all(r["error"] == f"{path}:{rows_line}: {ROWS}: Input should be greater than 0 (got -1)" for r in bad)
    assert [r["id"] for r in bad] == [invalid_point_id(load_sweep(path), r["point"]) for r in bad]
    # the closing lines say so in the usual format
    assert "2 points do not validate" in buf.getvalue()
    assert f"{ROWS}: Input should be greater than 0 (got -1) in 2 of 6 points, first point #4 (rows=-1, " \
           f"dataflow=ws)" in buf.getvalue()
    with open(out / "results.csv") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["ok"] * 4 + ["error"] * 2  # in sweep order
    # a re-run does not repeat them (as failed points); fixed, the new points run and the invalid ones leave the table
    assert run_sweep(path, out, workers=1, progress=False, plots=False).ran == 0
    fixed = run_sweep(write(tmp_path, SMALL), out, workers=1, progress=False, plots=False)
    assert (fixed.points, fixed.skipped, fixed.ran, fixed.failed, fixed.exit_status) == (6, 4, 2, 0, 0)
    with open(out / "results.csv") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["ok"] * 6


def test_a_streamed_sweep_resumes_and_drops_duplicates(tmp_path, streamed):
    # 8GiB and 8589934592 B are one HBM once resolved: 2 x 2 = 4 expanded, 2 duplicates, 2 points
    body = f"""\
        base:
          workload: {{model: lenet5, batch: 1}}
          arch: gemmini
        grid:
          arch.hbm.capacity: [8GiB, 8589934592]
          {ROWS}: [8, 16]
        """
    out = tmp_path / "out"
    first = run_sweep(write(tmp_path, body), out, workers=1, progress=False, plots=False)
    assert (first.points, first.expanded, first.duplicates, first.ran) == (2, 4, 2, 2)
    grown = run_sweep(write(tmp_path, body.replace("[8, 16]", "[8, 16, 32]")), out, workers=1, progress=False,
                      plots=False)
    # 2 x 3 = 6 expanded, 3 duplicates, 3 points of which 2 were done
    assert (grown.points, grown.expanded, grown.duplicates, grown.skipped, grown.ran) == (3, 6, 3, 2, 1)
    info = json.loads((out / "sweep.json").read_text())
    assert info["complete"] and info["points"] == 3 and len(info["ids"]) == 3 == len(records(out))
    assert info["ids"] == [r["id"] for r in records(out)]  # one worker: records in sweep order


def test_results_do_not_depend_on_the_chunk_size(tmp_path, monkeypatch, streamed):
    path = write(tmp_path, SMALL)
    runs = {}
    for size in (1, 64):
        def chunked(ex, points, on_record, size=size, **kw):
            return executors.dispatch(ex, points, on_record, chunker=Chunker(ex.slots, first=size, max_size=size),
                                      **kw)

        monkeypatch.setattr(runner, "dispatch", chunked)
        out = tmp_path / f"out{size}"
        run_sweep(path, out, workers=2, progress=False, plots=False)
        info = json.loads((out / "sweep.json").read_text())
        runs[size] = (sorted((out / "results.jsonl").read_text().splitlines()), (out / "results.csv").read_text(),
                      info["ids"])
    assert runs[1] == runs[64] and len(runs[1][0]) == 6


def test_an_interrupted_streamed_sweep_keeps_its_ids_and_table(tmp_path, monkeypatch, streamed):
    path = write(tmp_path, SMALL)
    out = tmp_path / "out"

    def two_then_ctrl_c(ex, points, on_record, **kw):
        got = []

        def rec(r):
            on_record(r)
            got.append(r)
            if len(got) == 2:
                raise KeyboardInterrupt

        executors.dispatch(ex, points, rec, **kw)

    monkeypatch.setattr(runner, "dispatch", two_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(path, out, workers=1, progress=False, plots=False)
    info = json.loads((out / "sweep.json").read_text())
    # one worker takes two chunks of 2 points: 4 of the 6 points planned when the second record came back
    assert not info["complete"] and len(info["ids"]) == 4 and info["expanded"] == 6
    assert [r["id"] for r in records(out)] == info["ids"][:2]
    assert len(plot_sweep(out)) >= 1 and len((out / "results.csv").read_text().splitlines()) == 1 + 2
    monkeypatch.setattr(runner, "dispatch", executors.dispatch)
    summary = run_sweep(path, out, workers=1, progress=False, plots=False)
    assert (summary.skipped, summary.ran, summary.ok) == (2, 4, 6)
    assert json.loads((out / "sweep.json").read_text())["complete"]


def test_a_filter_failing_on_a_later_point_stops_the_sweep_keeping_what_finished(tmp_path, streamed):
    # 1 / (rows - 32) divides by zero at rows=32, first met at point #4 (32, ws), after the checked point #0
    path = write(tmp_path, SMALL + f'filters: ["1 / ({ROWS} - 32) < 100"]\n')
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as info:
        run_sweep(path, out, workers=1, progress=False, plots=False)
    (line,) = str(info.value).splitlines()
    assert "filters[0]: cannot evaluate at point #4 (rows=32, dataflow=ws): division by zero" in line
    kept = records(out)
    info = json.loads((out / "sweep.json").read_text())
    assert not info["complete"] and set(r["id"] for r in kept) <= set(info["ids"])
    with open(out / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == len(kept) <= 4


def test_the_streamed_end_writes_the_in_memory_table_and_accelsim_plot_redraws_it(tmp_path):
    # error points (no metrics) between ok ones, two workers: results.jsonl is not in sweep order
    from accelsim.sweep.store import ordered_records, read_sweep_json, write_csv

    path = write(tmp_path, f"""\
        base:
          workload: {{model: lenet5, batch: 1}}
          arch: gemmini
        set: {{arch.host: null}}
        grid:
          workload.batch: [10000000, 1]
          {ROWS}: [8, 16, 32]
        """)
    out = tmp_path / "out"
    summary = run_sweep(path, out, workers=2, progress=False)
    # the three batch 10^7 points fail: pool1's input and output, 10^7 x (6 x 28 x 28 + 6 x 14 x 14) B (int8) = 58.8 GB,
    # exceed gemmini's 16 GiB of DRAM with no host behind it (an hbm too small for the scratchpad, the 1 KiB this case
    # used, is refused before any point runs since probe p125 #2)
    assert (summary.points, summary.ok, summary.failed) == (6, 3, 3)
    streamed = (out / "results.csv").read_text()
    info = read_sweep_json(out)
    write_csv(tmp_path, ordered_records(out, info), info["axes"])  # the table of every record held in memory
    assert streamed == (tmp_path / "results.csv").read_text()
    (out / "results.csv").unlink()
    proc = subprocess.run([sys.executable, "-m", "accelsim", "plot", str(out)], capture_output=True, text=True,
                          cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (out / "results.csv").read_text() == streamed


def test_results_of_another_version_are_warned_of_on_every_run(tmp_path):
    # a folder whose results came from accelsim 0.0.1: each later run says so (sweep.json keeps earlier_versions),
    # not only the first one after the version changed
    from rich.console import Console

    path, out = write(tmp_path, SMALL), tmp_path / "out"
    run_sweep(path, out, workers=1, progress=False, plots=False)
    info = json.loads((out / "sweep.json").read_text())
    (out / "sweep.json").write_text(json.dumps({**info, "accelsim_version": "0.0.1"}))
    for _ in range(2):
        con = Console(record=True, width=300)
        run_sweep(path, out, workers=1, progress=False, plots=False, console=con)
        assert "holds results of accelsim 0.0.1" in con.export_text()
        assert json.loads((out / "sweep.json").read_text())["earlier_versions"] == ["0.0.1"]


def test_a_quiet_sweep_still_says_that_points_failed(tmp_path, capsys):
    # -q hides the progress bar (README), not the failures: the closing line goes to stderr, exit status 1
    from accelsim.cli import main

    path = _lenet_with_a_32kib_hbm(tmp_path, "[ws]")
    assert main(["sweep", str(path), "-o", str(tmp_path / "out"), "--workers", "1", "-q"]) == 1
    out, err = capsys.readouterr()
    assert "2 points, 1 ok, 1 failed" in err
    assert out == f"{tmp_path / 'out'}\n"  # the folder, as run -q and serve -q print theirs (it printed nothing)
    # an empty -o was taken for the default folder (runs/NAME): refused, as every command's
    for argv in (["sweep", str(path)], ["run", "-w", "lenet5", "-a", "gemmini"], ["serve", "x.yaml"]):
        assert main([*argv, "-o", ""]) == 2
        assert capsys.readouterr().err == (f"accelsim: error: {argv[0]}: -o: an empty folder name; give a folder, "
                                           f"or leave -o out for the default (the file's 'output', else runs/NAME)\n")


def test_a_line_that_is_not_a_result_is_ignored_alike_by_a_sweep_and_by_plot(tmp_path):
    # a hand-edited results.jsonl: the sweep ignored the line (and ran its point again) while `accelsim plot`
    # refused the folder; both now ignore it with one warning naming it (1 line: "line", not "lines")
    path, out = write(tmp_path, SMALL), tmp_path / "out"
    run_sweep(path, out, workers=1, progress=False, plots=False)
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join([*lines[:4], lines[4][:20], *lines[5:]]) + "\n")  # line 5 cut
    note = f"1 line of {out / 'results.jsonl'} is not a result (line 5: not JSON: "
    plotted = io.StringIO()
    plot_sweep(out, console=Console(file=plotted, width=300))
    assert plotted.getvalue().startswith(f"warning: {note}") and plotted.getvalue().endswith("; ignored\n")
    with open(out / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == 5  # the other 5 points
    swept = io.StringIO()
    summary = run_sweep(path, out, workers=1, progress=True, plots=False, console=Console(file=swept, width=300))
    assert (summary.ran, summary.skipped, summary.ok) == (1, 5, 6)
    said = [line for line in swept.getvalue().splitlines() if line.startswith("warning:")]
    assert said == [plotted.getvalue().rstrip("\n") + " (its point runs again)"]


def test_a_sweep_and_plot_warn_of_points_left_off_the_pareto_plot(tmp_path):
    # multicore-4 has no energy block (docs/energy.md: energy and area null), so of the 3 archs' points 2 are drawn
    # and 1 is left off; the sweep's console and `accelsim plot` say so, once each
    path = write(tmp_path, """\
        name: mixed
        base:
          workload: {model: gemm, m: 64, n: 64, k: 64}
          arch: gemmini
        grid:
          arch: [scalesim-32x32, gemmini, multicore-4]
        """)
    out, swept, plotted = tmp_path / "out", io.StringIO(), io.StringIO()
    summary = run_sweep(path, out, workers=1, progress=True, console=Console(file=swept, width=300))
    assert summary.ok == 3 and (out / "sweep_pareto.png").is_file()
    with open(out / "results.csv") as f:
        assert [r["energy_j"] == "" for r in csv.DictReader(f)] == [False, False, True]
    note = f"warning: {out / 'sweep_pareto.png'}: 1 point without energy or area (an arch with no energy block) left off"
    assert [line for line in swept.getvalue().splitlines() if line.startswith("warning:")] == [note]
    plot_sweep(out, console=Console(file=plotted, width=300))
    assert plotted.getvalue().splitlines() == [note]


# the probe's tiny GPT (2 layers, hidden 256) prefilling 64 tokens then decoding 4 on tpu-v4: about 1 s a point
GPT_DECODE = {"model": "gpt", "hidden": 256, "heads": 4, "layers": 2, "ffn": 1024, "vocab": 1000, "seq_len": 64,
              "max_positions": 128, "decode_steps": 4}


def test_a_sweep_keeps_the_serving_figures_of_report_json(tmp_path):
    import accelsim

    path = write(tmp_path, f"""\
        name: sdec
        base: {{workload: {json.dumps(GPT_DECODE)}, arch: tpu-v4}}
        grid:
          arch.hbm.bandwidth: [600GB/s, 1200GB/s]
        """)
    out = tmp_path / "out"
    summary = run_sweep(path, out, workers=1, progress=False, plots=False)
    assert (summary.ran, summary.ok) == (2, 2)
    rec = next(r for r in records(out) if r["point"] == {"arch.hbm.bandwidth": "600GB/s"})
    serving = rec["metrics"]["serving"]
    # the same point run alone: its report.json's serving numbers (not its lists, objects or nulls) are kept
    alone = accelsim.simulate(GPT_DECODE, {"base": "tpu-v4", "hbm": {"bandwidth": "600GB/s"}}).to_dict()["serving"]
    assert serving == {k: v for k, v in alone.items() if isinstance(v, (int, float))}
    assert {"ttft_s", "tpot_s", "tokens_per_s"} <= set(serving) and "step_cycles" not in serving
    # by hand: TTFT = prefill cycles / clock; TPOT = decode cycles / 4 steps / clock; tokens/s = batch 1 x 4 / decode s
    clock = rec["metrics"]["clock_hz"]
    assert serving["ttft_s"] == pytest.approx(serving["prefill_cycles"] / clock)
    assert serving["tpot_s"] == pytest.approx(serving["decode_cycles"] / 4 / clock)
    assert serving["tokens_per_s"] == pytest.approx(1 * 4 / (serving["decode_cycles"] / clock))
    # results.csv: flattened like the other nested metrics
    header = next(csv.reader(open(out / "results.csv")))
    assert {"serving.ttft_s", "serving.tpot_s", "serving.tokens_per_s"} <= set(header)
