"""Probe p94 #1 and #2 end to end: a ``serve --sweep`` into a folder holding a longer sweep leaves this sweep's points
and curve only, and ``accelsim sweep --no-plots`` writes no plots."""

from __future__ import annotations

import csv
import json

from accelsim.cli import main

from .test_serve import SMALL


def test_serve_sweep_into_an_older_longer_sweep_keeps_only_its_own_points(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(SMALL))
    out = tmp_path / "curve"
    assert main(["serve", str(path), "-o", str(out), "-q", "--sweep", "workload.arrival.rate=0.2,0.5,1",
                 "--set", "workload.requests=2"]) == 0
    assert (out / "throughput_latency.png").is_file() and (out / "point_2" / "report.json").is_file()
    # two points, 3 requests each, no plots: the third point and the 3-point curve were the old sweep's
    assert main(["serve", str(path), "-o", str(out), "-q", "--no-plots", "--sweep", "workload.arrival.rate=0.2,0.5",
                 "--set", "workload.requests=3"]) == 0
    assert sorted(p.name for p in out.glob("point_*")) == ["point_0", "point_1"]
    assert not (out / "throughput_latency.png").exists()
    with open(out / "sweep.csv", newline="") as f:
        assert [r["requests"] for r in csv.DictReader(f)] == ["3", "3"]
    for i in (0, 1):
        assert json.loads((out / f"point_{i}" / "report.json").read_text())["serving"]["requests"] == 3
    # 'accelsim plot' draws sweep.csv's points: a stray point_5 (another sweep's) is not drawn
    (out / "point_5").mkdir()
    (out / "point_5" / "report.json").write_text("not read")
    assert main(["plot", str(out)]) == 0
    assert (out / "throughput_latency.png").is_file() and not (out / "point_5" / "latency_cdf.png").exists()
    capsys.readouterr()


def test_sweep_no_plots_writes_results_but_no_plots_and_removes_an_earlier_runs(tmp_path):
    (tmp_path / "s.yaml").write_text("name: s\nbase:\n  workload: {model: gemm}\n  arch: tpu-v1\n"
                                     "grid:\n  workload.m: [8, 16]\n")
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "s.yaml"), "-o", str(out), "-q", "--workers", "1"]) == 0
    drawn = sorted(p.name for p in out.glob("sweep_*.png"))
    assert drawn  # the plain sweep draws its plots
    assert main(["sweep", str(tmp_path / "s.yaml"), "-o", str(out), "-q", "--workers", "1", "--no-plots"]) == 0
    assert list(out.glob("*.png")) == []
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 2  # header, 2 points
    fresh = tmp_path / "fresh"
    assert main(["sweep", str(tmp_path / "s.yaml"), "-o", str(fresh), "-q", "--workers", "1", "--no-plots"]) == 0
    assert list(fresh.glob("*.png")) == [] and (fresh / "results.csv").is_file()
