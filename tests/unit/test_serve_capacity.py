"""Capacity search (``accelsim serve FILE --capacity``): the bracket-and-bisect on a hand-made pass/fail rule, its
files, and its one-line errors."""

from __future__ import annotations

import csv
import json

import pytest

from accelsim.cli import main
from accelsim.serving import ServeResult
from accelsim.serving.capacity import BISECTIONS, SERVED_SHARE, passes, search, served_share


def _result(fraction: float, saturated: bool = False, unfinished: int = 0, done: float | None = 1.0,
            offered: float | None = 1.0) -> ServeResult:
    return ServeResult({"serving": {"goodput": {"fraction": fraction}, "saturated": saturated,
                                    "unfinished": unfinished, "requests_per_s": done,
                                    "offered_requests_per_s": offered}}, [], [])


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


def test_a_run_that_serves_under_half_the_offered_load_does_not_pass():
    # 10 requests 0.1 s apart (a 1 s arrival window, 10 offered a second), each finished 1 s after it arrived: the
    # last arrives at 0.9 s and finishes at 1.9 s, the makespan; 10 / 1.9 = 5.26 requests/s, 0.526 of the offered
    # load (the 0.9 s tail after the window within the window's 1 s): it passes
    assert served_share(_result(1.0, done=10 / 1.9, offered=10.0)) == pytest.approx(1 / 1.9)
    assert passes(_result(1.0, done=10 / 1.9, offered=10.0), 0.9)
    # the same requests 0.05 s apart: a 0.5 s window, a 0.95 s tail, 10 / 1.45 = 6.9 of 20 offered, 0.345: not
    # sustained, though every request met its SLOs and none queued
    assert not passes(_result(1.0, done=10 / 1.45, offered=20.0), 0.9)
    assert SERVED_SHARE == 0.5
    assert passes(_result(1.0, done=5.0, offered=10.0), 0.9) and not passes(_result(1.0, done=4.99, offered=10.0), 0.9)
    # one arrival: no offered rate, so no evidence the rate is sustained: it fails (probe p51 #1: a 1 ms file passed
    # every probe up to 3,263 requests/s)
    assert served_share(_result(1.0, offered=None)) is None and not passes(_result(1.0, offered=None), 0.9)


def test_a_count_bound_file_whose_requests_fit_one_batch_keeps_the_rate_its_slots_sustain(tmp_path):
    # 40 requests of 248 output tokens, max_num_seqs 64: all fit one batch, so no queue forms and every SLO is met at
    # any rate (before the served-share rule the search passed 138 requests/s). A request holds its slot for at
    # least 247 decode steps, each reading llama2_7b's 6.74e9 fp16 weights (13.48 GB) from the H100's 3,350 GB/s
    # HBM: >= 4.02 ms, so >= 0.993 s; 64 slots sustain at most 64 / 0.993 = 64.4 requests/s (Little's law)
    out = tmp_path / "cb"
    assert main(["serve", "llama2_7b_h100", "--capacity", "--set", "workload.requests=40", "--set",
                 "workload.duration=null", "--set", "engine.max_num_seqs=64", "-o", str(out), "--no-plots",
                 "-q"]) == 0
    with open(out / "capacity.csv") as f:
        table = list(csv.DictReader(f))
    best = max(float(r["rate"]) for r in table if r["passes"] == "True")
    assert best <= 64 / (247 * 13.48e9 / 3350e9)
    # and by the run's own TPOT p50 (t): 64 slots held (247 t) each sustain 64 / (247 t)
    report = json.loads((out / "best" / "report.json").read_text())
    assert best <= 64 / (247 * report["serving"]["tpot_s"]["p50"])
    # every probe met the SLOs unsaturated; those that fail served under half the offered load, the rest over it
    for r in table:
        assert float(r["goodput_fraction"]) == 1.0 and r["saturated"] == "False"
        assert (r["passes"] == "True") == (float(r["served_share"]) >= 0.5)
        assert float(r["served_share"]) == pytest.approx(float(r["requests_per_s"]) / float(r["rate"]), rel=1e-9)


def test_the_capacity_run_writes_its_probes_and_the_best_runs_folder(tmp_path, capsys):
    out = tmp_path / "cap"
    assert main(["serve", "llama2_7b_h100", "--capacity", "--set", "workload.duration=20s", "-o", str(out),
                 "--no-plots"]) == 0
    # the table is titled by the model and arch, not the file's name, llama2_7b_h100_8rps: the search varies the rate
    printed = " ".join(capsys.readouterr().out.split())  # rich wraps a long title over lines
    assert "llama2_7b on h100: capacity at 90 % of requests within the SLOs" in printed
    assert "served_share" in printed  # why a probe with every SLO met can still fail: it served under half the load
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


def test_a_capacity_search_of_one_request_is_refused(capsys):
    # probe p46 #1: one arrival has no offered rate, so its served share is undefined and every probe passed up to
    # the search's ceiling (capacity 4,096 requests/s for a run that served 2.87)
    assert main(["serve", "llama2_7b_h100", "--capacity", "--set", "workload.requests=1", "--set",
                 "workload.duration=null", "--no-plots", "-q"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "--set: workload.requests: a capacity search needs at least 2 requests" in line
