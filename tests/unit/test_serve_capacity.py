"""Capacity search (``accelsim serve FILE --capacity``): the bracket-and-bisect on a hand-made pass/fail rule, its
files, and its one-line errors."""

from __future__ import annotations

import csv
import json

import pytest

from accelsim.cli import main
from accelsim.serving import ServeResult
from accelsim.serving.capacity import BISECTIONS, passes, search


def _result(fraction: float, saturated: bool = False, unfinished: int = 0) -> ServeResult:
    return ServeResult({"serving": {"goodput": {"fraction": fraction}, "saturated": saturated,
                                    "unfinished": unfinished}}, [], [])


def test_the_search_brackets_then_bisects_to_the_highest_passing_rate():
    # a server that keeps every SLO up to 7.3 requests/s and half of them above: from 2 the search doubles to 4
    # (passes) and 8 (fails), then bisects [4, 8] geometrically 6 times: the bracket narrows to 2^(1/64), so the
    # capacity found is at most 7.3 and above 7.3 / 2^(1/64)
    tried = []

    def run(rate):
        tried.append(rate)
        return _result(1.0 if rate <= 7.3 else 0.5)

    best, probes = search(run, 2.0)
    assert tried[:3] == [2.0, 4.0, 8.0] and len(tried) == 3 + BISECTIONS
    assert 7.3 / 2 ** (1 / 64) < best <= 7.3
    assert [p.passes for p in probes[:3]] == [True, True, False]
    # from above: halves until a rate passes
    best, probes = search(run, 100.0)
    assert [p.rate for p in probes[:5]] == [100.0, 50.0, 25.0, 12.5, 6.25]
    assert 7.3 / 2 ** (1 / 64) < best <= 7.3
    # nothing passes: None after 12 halvings
    best, probes = search(lambda rate: _result(0.0), 1.0)
    assert best is None and len(probes) == 13


def test_a_run_passes_only_within_the_goal_unsaturated_and_finished():
    assert passes(_result(0.9), 0.9) and not passes(_result(0.89), 0.9)
    assert not passes(_result(1.0, saturated=True), 0.9) and not passes(_result(1.0, unfinished=1), 0.9)
    assert not passes(_result(None), 0.9)  # no request finished


def test_the_capacity_run_writes_its_probes_and_the_best_runs_folder(tmp_path, capsys):
    out = tmp_path / "cap"
    assert main(["serve", "llama2_7b_h100", "--capacity", "--set", "workload.duration=20s", "-o", str(out),
                 "--no-plots"]) == 0
    # the table is titled by the model and arch, not the file's name, llama2_7b_h100_8rps: the search varies the rate
    printed = " ".join(capsys.readouterr().out.split())  # rich wraps a long title over lines
    assert "llama2_7b on h100: capacity at 90 % of requests within the SLOs" in printed
    assert "8rps" not in printed
    with open(out / "capacity.csv") as f:
        table = list(csv.DictReader(f))
    rates = [float(r["rate"]) for r in table]
    assert rates == sorted(rates) and rates[0] <= 8.0 <= rates[-1]  # the file's own rate is the first probe
    ok = [float(r["rate"]) for r in table if r["passes"] == "True"]
    failed = [float(r["rate"]) for r in table if r["passes"] == "False"]
    best = max(ok)
    assert min(failed) > best and min(failed) / best <= 2 ** (1 / 64) + 1e-9  # bisected to 1.1 %
    report = json.loads((out / "best" / "report.json").read_text())
    assert report["config"]["workload"]["arrival"]["rate"] == pytest.approx(best)
    assert report["serving"]["goodput"]["fraction"] >= 0.9
    # 'accelsim plot' on the capacity folder draws the best run's plots (the search ran with --no-plots)
    assert not (out / "best" / "latency_cdf.png").exists()
    assert main(["plot", str(out)]) == 0
    assert (out / "best" / "latency_cdf.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, expect", [
    (["--capacity", "--set", "slo=null"], "slo: a capacity search needs an SLO"),
    (["--capacity", "1.5"], "--capacity: the share of requests meeting the SLOs must be in (0, 1]"),
    (["--capacity", "--sweep", "engine.max_num_seqs=8,0"], "engine.max_num_seqs"),
])
def test_capacity_bad_input_is_one_line(argv, expect, tmp_path, capsys):
    assert main(["serve", "llama2_7b_h100", *argv, "-o", str(tmp_path / "x"), "-q"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert expect in line


def test_a_capacity_sweep_gives_each_values_capacity(tmp_path, capsys):
    # more sequences a replica may run at once raise the rate it keeps its SLOs at (the batch grows, each decode step
    # serving more requests for little more time), from 32 to 128 here
    out = tmp_path / "capsw"
    assert main(["serve", "llama2_7b_h100", "--capacity", "--sweep", "engine.max_num_seqs=32,128", "--set",
                 "workload.duration=20s", "-o", str(out), "--no-plots"]) == 0
    # titled as a --sweep curve is (docs/serving.md): the model, the arch and the key's values
    printed = " ".join(capsys.readouterr().out.split())
    assert ("llama2_7b on h100: capacity at 90 % of requests within the SLOs, by engine.max_num_seqs = 32, 128"
            in printed) and "8rps" not in printed
    with open(out / "capacity_sweep.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["value"] for r in table] == ["32", "128"]
    assert float(table[0]["capacity_requests_per_s"]) < float(table[1]["capacity_requests_per_s"])
    for i, row in enumerate(table):  # each point's own search, its best run among its probes
        with open(out / f"point_{i}" / "capacity.csv") as f:
            best = max(float(r["rate"]) for r in csv.DictReader(f) if r["passes"] == "True")
        assert best == pytest.approx(float(row["capacity_requests_per_s"]))


def test_a_capacity_title_names_the_model_and_arch_a_hf_preset_by_its_own_name():
    from accelsim.config.serving import load_serving
    from accelsim.serving.capacity import title
    from accelsim.serving.curve import spec_name

    # --set contradicting the file's name (llama2_7b_h100_8rps at 32 requests/s) does not reach the title
    spec = load_serving("llama2_7b_h100", ["workload.arrival.rate=32"])
    assert spec.name == "llama2_7b_h100_8rps" and spec_name(spec) == "llama2_7b on h100"
    assert title(spec_name(spec), 0.95) == "llama2_7b on h100: capacity at 95 % of requests within the SLOs"
    # an hf preset is served by the hf builder under its preset's name
    assert spec_name(load_serving("llama3_8b_h100_chat")) == "llama3_8b on h100"
