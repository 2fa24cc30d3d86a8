"""Checks from an audit of the serving features (speculative decoding, conversations, capacity, report.html): the
acceptance a long run measures against Leviathan et al. 2023's formula, a capacity sweep's points checked before any
search runs, and the page's energy units and SLO card. Times come from the stub of tests/unit/test_serve.py."""

from __future__ import annotations

import html
import re

import pytest

from accelsim.cli import main
from accelsim.serving import page, serve

from .test_serve import spec
from .test_serve_speculative import Stub as DraftStub


def test_a_long_run_samples_the_formulas_tokens_a_verification():
    # alpha 0.8, 6 drafts: a verification keeps i drafts with probability 0.8^i x 0.2 (i < 6), all six with
    # 0.8^6 = 0.262144 (Leviathan et al. 2023, Sec. 3.1), so it samples (1 - 0.8^7) / (1 - 0.8) = (1 - 0.2097152) / 0.2
    # = 3.951424 tokens on average, and vLLM's draft acceptance (kept / drafted) is 2.951424 / 6 = 0.491904.
    # 40 requests of 1,000 output tokens: about 40 x 999 / 3.95 = 10,100 verifications; the kept count's standard
    # deviation is 2.30 (by the distribution above), so the mean's standard error is 0.023: 0.1 is over 4 of them.
    # Drafts are cut only in each request's last few steps (at most output - generated - 1), a bias under 0.01.
    s = spec(engine={"max_model_len": 2048},
             workload={"requests": 40, "output_tokens": {"dist": "fixed", "value": 1000}},
             speculative={"method": "ngram", "num_tokens": 6, "acceptance_rate": 0.8})
    sp = serve(s, cost=DraftStub(), blocks=100_000).report["serving"]["speculative"]
    assert sp["expected_tokens_per_verification"] == pytest.approx(3.951424)
    assert sp["tokens_per_verification"] == pytest.approx(3.951424, abs=0.1)
    assert sp["draft_acceptance"] == pytest.approx(0.491904, abs=0.1 / 6)
    # every output token after the first is a kept draft or a verification's (or a last plain decode's) own token
    assert sp["accepted_tokens"] + sp["verifications"] <= 40 * 999 <= sp["accepted_tokens"] + sp["verifications"] + 40


def test_a_capacity_sweep_checks_every_points_slo_before_any_search(tmp_path, capsys):
    # the second point has no SLO left: the sweep stops before the first point's search runs, naming the point
    out = tmp_path / "capsw"
    argv = ["serve", "llama2_7b_h100", "--capacity", "--sweep", "slo.ttft=200ms,null", "--set", "slo.tpot=null",
            "-o", str(out), "-q", "--no-plots"]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "slo: a capacity search needs an SLO" in line and "at --sweep slo.ttft=null" in line
    assert not out.exists()


@pytest.mark.parametrize("goal", ["0", "2", "nan"])
def test_a_capacity_sweeps_goal_is_checked_first(goal, tmp_path, capsys):
    assert main(["serve", "llama2_7b_h100", "--capacity", goal, "--sweep", "engine.max_num_seqs=8,16",
                 "-o", str(tmp_path / "x"), "-q"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("accelsim: error: --capacity:") and "(0, 1]" in line


def _text(page_html: str) -> str:
    page_html = re.sub(r"<style>.*?</style>|<script>.*?</script>", "", page_html, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page_html)))


def test_the_pages_energy_section_gives_watts_and_joules_and_no_slo_is_not_a_share():
    report = serve(spec(), cost=DraftStub(), blocks=1000).report
    # a run of 3 requests (12 output tokens) on one chip drawing 502.1 W for 2 s: 1,004.2 J, 83.68 J a token,
    # 334.7 J a request
    report.update({"energy": {"total_j": 1004.2, "busy_j": 604.2, "static_j": 400.0, "chips": 1},
                   "power": {"average_w": 502.1, "average_w_per_chip": 502.1},
                   "efficiency": {"j_per_output_token": 83.68, "j_per_request": 334.7}})
    text = _text(page.render(report))
    assert "average_w 502 W" in text and "average_w_per_chip 502 W" in text
    assert "j_per_output_token 83.7 J" in text and "j_per_request 335 J" in text and "total_j 1 kJ" in text
    # the file gives no SLO: every finished request counts as good, which the card must not show as a share
    assert report["serving"]["goodput"]["slo"] == {}
    assert "no SLO set meet the SLOs" in text and "100.0 % meet the SLOs" not in text


@pytest.mark.parametrize("mode", [["--capacity"], ["--sweep", "workload.arrival.rate=1,2"]])
def test_trace_with_capacity_or_sweep_is_a_one_line_error(mode, tmp_path, capsys):
    # --trace writes one run's trace.json; a search or a sweep is many runs, and ignoring the flag said nothing
    assert main(["serve", "llama2_7b_h100", "--trace", *mode, "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--trace" in err[0] and mode[0] in err[0]
    assert not (tmp_path / "o").exists()  # nothing ran


def test_a_section_only_set_writes_reports_its_missing_keys_at_set(capsys):
    # llama2_7b_h100.yaml has no speculative section: the keys the --set one lacks are the command line's to give,
    # not a fault of the file's first line
    assert main(["serve", "llama2_7b_h100", "--set", "speculative.num_tokens=4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("accelsim: error: --set: speculative.") for line in err)
    # "accelsim: error: --set: KEY: missing: ...", each saying the --set added the section (probe p83 #7)
    assert {line.split(": ")[3] for line in err} == {"speculative.method", "speculative.acceptance_rate"}
    assert all("missing: the file has no speculative, so the command line's key inside it adds a new one" in line
               for line in err)


@pytest.mark.parametrize(("preset", "unit"), [("llama2_7b_h100", "requests/s"),
                                              ("llama3_8b_h100_chat", "conversations/s")])
def test_the_capacity_console_names_what_its_rate_counts(preset, unit, tmp_path, capsys):
    # the console's last lines (not printed with -q): the rate counts requests, or conversations when the file has
    # workload.conversation (its arrivals start conversations); the search itself is many short runs
    argv = ["serve", preset, "--capacity", "--set", "workload.duration=10s", "--no-plots", "-o", str(tmp_path / "c")]
    assert main(argv) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("capacity:"))
    assert line.split()[2] == unit  # "capacity: <rate> <unit> (...)"
