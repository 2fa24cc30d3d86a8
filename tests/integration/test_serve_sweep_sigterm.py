"""Probe p241 #1 and #2 end to end: an ``accelsim serve --sweep`` stopped by SIGTERM (what ``timeout`` and batch
schedulers send) or SIGKILL leaves a folder accelsim reads and writes again, and a rerun of the same sweep into it
reuses the points that finished instead of simulating them again.

Each stopped sweep is a real ``accelsim`` process (``cli.main`` in a child Python) that sends itself the signal as its
third point starts simulating (``serving.curve.serve`` wrapped): deterministic, no sleep to tune. The child counts the
points it simulated into ``ran.txt``, so a rerun shows which points it ran."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import textwrap

import pytest

from accelsim import cli
from accelsim.report.lock import LOCK_FILE

from .test_serve import SMALL

RATES = "workload.arrival.rate=0.2,0.5,1,2"  # four points, 3 requests each (SMALL): about 1 s in all

# argv[1]: the signal to send as point number argv[2] (0-based) starts, "none" for no signal; argv[3:]: accelsim's
CHILD = textwrap.dedent("""
    import os, signal, sys
    import accelsim.serving.curve as curve
    from accelsim.cli import main

    sig, at, ran = sys.argv[1], int(sys.argv[2]), []
    original = curve.serve

    def serve(spec, progress=None):
        if sig != "none" and len(ran) == at:
            os.kill(os.getpid(), getattr(signal, sig))
        ran.append(spec.serve.workload.arrival.rate)
        with open("ran.txt", "a") as f:
            f.write(f"{ran[-1]}\\n")
        return original(spec, progress=progress)

    curve.serve = serve
    sys.exit(main(sys.argv[3:]))
""")


def _accelsim(tmp_path, *args: str, sig: str = "none", at: int = 0) -> subprocess.CompletedProcess:
    (tmp_path / "ran.txt").unlink(missing_ok=True)
    return subprocess.run([sys.executable, "-c", CHILD, sig, str(at), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)


def _ran(tmp_path) -> list[float]:
    f = tmp_path / "ran.txt"
    return [float(x) for x in f.read_text().split()] if f.is_file() else []


def _rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def served(tmp_path):
    (tmp_path / "s.yaml").write_text(json.dumps(SMALL))
    return tmp_path


def _sweep(*more: str) -> list[str]:
    return ["serve", "s.yaml", "--sweep", RATES, "-o", "out", "--no-plots", *more]


def test_sigterm_keeps_the_finished_points_and_a_rerun_reuses_them(served):
    stopped = _accelsim(served, *_sweep(), sig="SIGTERM", at=2)
    # as Ctrl-C: exit 130 (143, killed by the signal, before the fix), the two finished points kept and named
    assert stopped.returncode == cli.EXIT_INTERRUPTED, stopped.stderr
    assert "stopped after 2 of 4 points: kept workload.arrival.rate=0.2,0.5 in out/" in stopped.stderr
    out = served / "out"
    assert [r["value"] for r in _rows(out / "sweep.csv")] == ["0.2", "0.5"]  # no sweep.csv before the fix
    assert sorted(p.name for p in out.glob("point_*")) == ["point_0", "point_1"]
    assert not (out / LOCK_FILE).exists()  # freed, not left stale
    report = (out / "point_0" / "report.json").read_bytes()
    assert cli.main(["plot", str(out)]) == 0  # the two points' curve ("no report.json" before the fix)

    # the rerun into the folder is accepted ("not written by accelsim" when SIGTERM had left no sweep.csv) and
    # simulates the two points that did not finish, not the two kept
    again = _accelsim(served, *_sweep())
    assert again.returncode == 0, again.stderr
    assert _ran(served) == [1.0, 2.0]  # [0.2, 0.5, 1.0, 2.0] before the fix
    assert "2 already done in out/ (point_0, point_1" in again.stderr
    assert (out / "point_0" / "report.json").read_bytes() == report  # reused, not rewritten

    # the resumed sweep's curve is the one an uninterrupted sweep writes
    fresh = _accelsim(served, "serve", "s.yaml", "--sweep", RATES, "-o", "fresh", "--no-plots")
    assert fresh.returncode == 0, fresh.stderr
    assert _ran(served) == [0.2, 0.5, 1.0, 2.0]
    assert _rows(out / "sweep.csv") == _rows(served / "fresh" / "sweep.csv")


def test_sigkill_leaves_a_sweep_csv_and_a_folder_the_rerun_takes(served):
    stopped = _accelsim(served, *_sweep(), sig="SIGKILL", at=2)
    assert stopped.returncode == -signal.SIGKILL
    out = served / "out"
    # written as each point finished: the two that did (nothing before the fix)
    assert [r["value"] for r in _rows(out / "sweep.csv")] == ["0.2", "0.5"]
    assert (out / LOCK_FILE).is_file()  # stale: its process is gone
    again = _accelsim(served, *_sweep())
    assert again.returncode == 0, again.stderr
    assert _ran(served) == [1.0, 2.0]
    assert [r["value"] for r in _rows(out / "sweep.csv")] == ["0.2", "0.5", "1", "2"]


def test_a_point_whose_inputs_changed_runs_again(served):
    assert _accelsim(served, *_sweep(), sig="SIGTERM", at=2).returncode == cli.EXIT_INTERRUPTED
    # 4 requests a point, not SMALL's 3: no finished point is this sweep's, so all four run
    again = _accelsim(served, *_sweep("--set", "workload.requests=4"))
    assert again.returncode == 0, again.stderr
    assert _ran(served) == [0.2, 0.5, 1.0, 2.0]
    assert "already done" not in again.stderr
    assert [r["requests"] for r in _rows(served / "out" / "sweep.csv")] == ["4"] * 4
    # and a point whose recorded inputs are another accelsim's (another code fingerprint) runs again too
    inputs = served / "out" / "point_0" / ".accelsim-point.json"
    recorded = json.loads(inputs.read_text())
    inputs.write_text(json.dumps({**recorded, "code_fingerprint": "0" * 16}))
    again = _accelsim(served, *_sweep("--set", "workload.requests=4"))
    assert again.returncode == 0, again.stderr
    assert _ran(served) == [0.2]
    assert "3 already done" in again.stderr


def test_a_reused_point_gets_the_plots_the_rerun_asks_for(served):
    assert _accelsim(served, *_sweep(), sig="SIGTERM", at=2).returncode == cli.EXIT_INTERRUPTED  # --no-plots
    out = served / "out"
    assert not (out / "point_0" / "latency_cdf.png").exists()
    with_plots = [w for w in _sweep() if w != "--no-plots"]
    again = _accelsim(served, *with_plots)
    assert again.returncode == 0, again.stderr
    assert _ran(served) == [1.0, 2.0]
    for i in range(4):  # the two reused points drawn from their CSVs, as the two run
        assert (out / f"point_{i}" / "latency_cdf.png").is_file()
        assert (out / f"point_{i}" / "serving_timeseries.png").is_file()
    assert (out / "throughput_latency.png").is_file()
    # and --no-plots again: all four reused, their plots removed as a save with --no-plots removes them
    again = _accelsim(served, *_sweep())
    assert again.returncode == 0, again.stderr
    assert _ran(served) == [] and "4 already done" in again.stderr
    assert not list(out.glob("**/*.png"))


def test_a_folder_of_serve_points_without_sweep_csv_is_a_serve_sweeps(served):
    # what a serve --sweep killed before this fix left: point folders, a stale lock, no sweep.csv
    assert _accelsim(served, *_sweep(), sig="SIGKILL", at=2).returncode == -signal.SIGKILL
    out = served / "out"
    (out / "sweep.csv").unlink()
    (out / ".point_2.partial").mkdir()  # a point killed while it was saved
    from accelsim.report.writers import folder_writers

    assert folder_writers(out) == ["accelsim serve --sweep"]
    one = _accelsim(served, "serve", "s.yaml", "-o", "out", "--no-plots")  # not the one-run command's folder
    assert one.returncode == cli.EXIT_BAD_INPUT
    assert "holds the outputs of 'accelsim serve --sweep'" in one.stderr
    plot = _accelsim(served, "plot", "out")
    assert plot.returncode == cli.EXIT_BAD_INPUT
    assert "a 'serve --sweep' folder without its sweep.csv" in plot.stderr and "Traceback" not in plot.stderr
    again = _accelsim(served, *_sweep())
    assert again.returncode == 0, again.stderr
    assert _ran(served) == [1.0, 2.0]
    assert not (out / ".point_2.partial").exists()  # replaced by point_2, saved whole
    # a point folder that is not accelsim's keeps the folder a user's
    (out / "sweep.csv").unlink()
    (out / "point_9").mkdir()
    (out / "point_9" / "notes.txt").write_text("mine")
    assert folder_writers(out) == []


def test_sigterm_on_run_is_ctrl_c_and_frees_the_folder(tmp_path):
    (tmp_path / "e.yaml").write_text("name: e\nworkload: {model: gemm}\narch: tpu-v1\n")
    child = textwrap.dedent("""
        import os, signal, sys
        import accelsim.api as api
        from accelsim.cli import main

        def run_experiment(spec, progress=None):
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("SIGTERM did not interrupt")

        api.run_experiment = run_experiment
        sys.exit(main(["run", "e.yaml", "-o", "out", "-q"]))
    """)
    proc = subprocess.run([sys.executable, "-c", child], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == cli.EXIT_INTERRUPTED, proc.stderr  # -15 (143 from a shell) before the fix
    assert proc.stderr.strip() == "accelsim: interrupted"
    assert not (tmp_path / "out").exists()  # the folder it made, empty, removed with its lock (stale before)
