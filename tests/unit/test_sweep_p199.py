"""Probe p199: a repeated ``serve --sweep`` value runs once (#3), and a sweep folder whose sweep.json is gone or
torn, with accelsim's records in results.jsonl, is resumed, not refused (#2)."""

from __future__ import annotations

import csv

from accelsim.cli import main
from accelsim.serving.curve import CURVE_CSV, unique_points

SHORT = ["--set", "workload.duration=2s"]


# ---- #3: `serve --sweep workload.arrival.rate=4,4` ---------------------------------------------------------------
def test_unique_points_drops_a_repeated_or_respelt_value_keeping_the_first():
    # 4, 4 and 4.0 are one arrival rate (the same resolved run and seed); 8 another: 2 points, 2 duplicates
    assert unique_points("llama2_7b_h100", "workload.arrival.rate", ["4", "4", "4.0", "8"], SHORT[1:]) == (
        ["4", "8"], 2)
    # two keys, rate=4,8 x max_num_seqs=16,16: 4 combinations, the second 16 repeats each rate's point
    points = [("4", "16"), ("4", "16"), ("8", "16"), ("8", "16")]
    assert unique_points("llama2_7b_h100", ("workload.arrival.rate", "engine.max_num_seqs"), points, SHORT[1:]) == (
        [("4", "16"), ("8", "16")], 2)
    assert unique_points("llama2_7b_h100", "workload.arrival.rate", ["2", "4"], SHORT[1:]) == (["2", "4"], 0)


def test_serve_sweep_runs_a_repeated_value_once_and_says_so(tmp_path, capsys):
    # was: exit 0 with point_0/ and point_1/, two identical sweep.csv rows for rate 4
    out = tmp_path / "sv"
    assert main(["serve", "llama2_7b_h100", *SHORT, "--sweep", "workload.arrival.rate=4,4", "-o", str(out),
                 "--no-plots"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["point_0", CURVE_CSV]
    with open(out / CURVE_CSV, newline="") as f:
        assert [r["value"] for r in csv.DictReader(f)] == ["4"]
    # accelsim sweep's wording: "planned N points (M expanded, K duplicates)"
    assert "planned 1 points (2 expanded, 1 duplicates)" in capsys.readouterr().err
