"""Probe p199: a repeated ``serve --sweep`` value runs once (#3), and a sweep folder whose sweep.json is gone or
torn, with accelsim's records in results.jsonl, is resumed, not refused (#2)."""

from __future__ import annotations

import csv
import json

import pytest

from accelsim.cli import main
from accelsim.errors import AccelsimError
from accelsim.report.writers import claim_folder, folder_writers
from accelsim.serving.curve import CURVE_CSV, unique_points
from accelsim.sweep.runner import run_sweep

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


# ---- #2: a sweep folder whose sweep.json is gone or torn -------------------------------------------------------
SWEEP = "base: {workload: {model: gemm, m: 8, n: 1024, k: 1024}, arch: tpu-v1}\ngrid:\n  workload.m: [8, 16]\n"


def _swept(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SWEEP)
    out = tmp_path / "out"
    run_sweep(spec, out, workers=1, plots=False, progress=False)
    return spec, out, (out / "sweep.json").read_text(), (out / "results.csv").read_bytes()


@pytest.mark.parametrize("damage", ["missing", "torn"])
def test_a_sweep_whose_sweep_json_is_lost_resumes_from_its_records_and_rebuilds_it(tmp_path, capsys, damage):
    # was: "out: not empty and not written by accelsim (holds results.csv, results.jsonl) ... give -o another folder"
    spec, out, info, table = _swept(tmp_path)
    if damage == "missing":
        (out / "sweep.json").unlink()
    else:
        (out / "sweep.json").write_text('{"format": "accelsim-sw')  # the probe's truncation
    assert folder_writers(out) == ["accelsim sweep"]  # its results.jsonl records mark it
    assert main(["sweep", str(spec), "-o", str(out), "--workers", "1", "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert "warning: " in err and "sweep.json" in err and "rebuilt from" in err
    # both points reused, none run again: 2 records still, results.csv and sweep.json as the clean run wrote them
    assert len((out / "results.jsonl").read_text().splitlines()) == 2
    assert (out / "results.csv").read_bytes() == table
    rebuilt = json.loads((out / "sweep.json").read_text())
    assert rebuilt["ids"] == json.loads(info)["ids"] and len(rebuilt["ids"]) == 2 and rebuilt["complete"]


def test_plot_of_a_sweep_folder_without_sweep_json_names_it(tmp_path, capsys):
    # was: "out: no report.json (run 'accelsim run ... -o out' first)"
    _, out, _, _ = _swept(tmp_path)
    (out / "sweep.json").unlink()
    assert main(["plot", str(out)]) == 2
    line = capsys.readouterr().err
    assert line.count("\n") == 1 and "a sweep folder without its sweep.json" in line and "accelsim run" not in line
    with pytest.raises(AccelsimError, match="holds the outputs of 'accelsim sweep'"):
        claim_folder(out, "accelsim run")  # another command is still refused the sweep's folder


def test_a_results_jsonl_not_written_by_accelsim_marks_nothing(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "results.jsonl").write_text('{"id": 1, "loss": 0.5}\n')  # a user's own log of that name
    assert folder_writers(out) == []
    with pytest.raises(AccelsimError, match="not empty and not written by accelsim"):
        claim_folder(out, "accelsim sweep")
