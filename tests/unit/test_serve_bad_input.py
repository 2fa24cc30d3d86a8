"""Bad input to ``accelsim serve`` found by an audit: each is one line naming the file, line and key with exit status
2 (never a traceback, a hang or unbounded memory), and what a sweep had computed is never lost to a bad point."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.cli import main
from accelsim.config import load_arch
from accelsim.config.serving import (
    MAX_GRID_POINTS,
    MAX_TOKENS,
    EngineConfig,
    ImageCounts,
    Lengths,
    grid_points,
    load_serving,
)
from accelsim.errors import ConfigError
from accelsim.serving import check, iteration_floor, serve
from accelsim.serving import requests as requests_module
from accelsim.serving.cost import footprint, geometric
from accelsim.serving.requests import _lengths, make_requests

from .test_serve_config import GOOD  # the same good serving file, mutated below


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli_error(capsys, text: str, *args: str) -> str:
    """``accelsim serve s.yaml -q ARGS`` on ``text``: exit status 2 and one line on stderr, returned."""
    with open("s.yaml", "w") as f:
        f.write(text)
    assert main(["serve", "s.yaml", "-q", "--no-plots", "-o", "out", *args]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    return line


# ---- 1. max_model_len: at least a 1-token prompt and 1 output token ---------------------------------------------

def test_max_model_len_below_2_is_one_line_not_an_internal_error(here, capsys):
    assert cli_error(capsys, GOOD.replace("max_num_seqs: 4}", "max_num_seqs: 4, max_model_len: 1}")) == (
        "accelsim: error: s.yaml:4: engine.max_model_len: must be at least 2: the shortest request is 1 prompt "
        "token and 1 output token (got 1)")


def test_the_footprint_of_the_shortest_max_model_len_is_measured():
    # max_model_len 2: the footprint's two decode graphs hold 1 and 2 tokens (it built kv_len 0 for 1 before)
    spec = load_serving("llama2_7b_h100")
    fp = footprint(spec.model, spec.arch, EngineConfig(max_model_len=2))
    # LLaMA-2-7B fp16: K and V of 32 layers × 4096 wide × 2 B = 524,288 B a token
    assert fp.kv_bytes_per_token == 2 * 32 * 4096 * 2


# ---- 2. gamma arrivals: a shape numpy samples without underflow ------------------------------------------------

@pytest.mark.parametrize("arrival, line", [
    ("{process: gamma, rate: 2, cv: 1.0e-200}",
     "s.yaml:6: workload.arrival.cv: Input should be greater than or equal to 0.001 (got 1e-200)"),
    ("{process: gamma, rate: 2, cv: 11}",
     "s.yaml:6: workload.arrival.cv: Input should be less than or equal to 10 (got 11)"),
    ("{process: gamma, rate: 2, burstiness: 0.001}",
     "s.yaml:6: workload.arrival.burstiness: Input should be greater than or equal to 0.01 (got 0.001)"),
])
def test_gamma_cv_and_burstiness_out_of_range_are_one_line(here, capsys, arrival, line):
    text = GOOD.replace("{process: poisson, rate: 2}", arrival)
    assert cli_error(capsys, text) == f"accelsim: error: {line}"


@pytest.mark.parametrize("arrival", ["{process: gamma, rate: 2, cv: 10}", "{process: gamma, rate: 2, cv: 0.001}",
                                     "{process: gamma, rate: 2, burstiness: 1.0e+6}"])
def test_the_extreme_gammas_allowed_draw_finite_ordered_arrivals(here, arrival):
    with open("s.yaml", "w") as f:
        f.write(GOOD.replace("{process: poisson, rate: 2}", arrival).replace("requests: 5", "requests: 2000"))
    times = np.array([r.arrival for r in make_requests(load_serving("s.yaml").serve.workload)])
    assert len(times) == 2000 and times[0] == 0 and np.all(np.isfinite(times)) and np.all(np.diff(times) >= 0)


# ---- 3. length distributions: bounded, clipped before int64 ----------------------------------------------------

@pytest.mark.parametrize("edit, line", [
    (("prompt_tokens: {dist: fixed, value: 10}", "prompt_tokens: {dist: normal, mean: 500, std: 1.0e+19}"),
     "s.yaml:7: workload.prompt_tokens.std: Input should be less than or equal to 2147483648 (got 1e+19)"),
    (("output_tokens: {dist: fixed, value: 2}", "output_tokens: {dist: lognormal, mean: 100, std: 1.0e+300}"),
     "s.yaml:8: workload.output_tokens.std: Input should be less than or equal to 2147483648 (got 1e+300)"),
    (("output_tokens: {dist: fixed, value: 2}", "output_tokens: {dist: normal, mean: 1.0e+19, std: 1}"),
     "s.yaml:8: workload.output_tokens.mean: Input should be less than or equal to 2147483648 (got 1e+19)"),
    (("prompt_tokens: {dist: fixed, value: 10}", "prompt_tokens: {dist: uniform, low: 1, high: 2147483649}"),
     "s.yaml:7: workload.prompt_tokens.high: Input should be less than or equal to 2147483648 (got 2147483649)"),
])
def test_lengths_beyond_2_to_the_31_are_one_line(here, capsys, edit, line):
    assert cli_error(capsys, GOOD.replace(*edit)) == f"accelsim: error: {line}"


def test_the_prompt_std_of_the_audit_is_one_line_from_set(here, capsys):
    assert cli_error(capsys, GOOD, "--set", "workload.prompt_tokens.std=1e19",
                     "--set", "workload.prompt_tokens.dist=normal", "--set", "workload.prompt_tokens.mean=10") == (
        "accelsim: error: --set: workload.prompt_tokens.std: Input should be less than or equal to 2147483648 "
        "(got '1e19')")


@pytest.mark.parametrize("dist", [
    Lengths(dist="normal", mean=MAX_TOKENS, std=MAX_TOKENS),
    Lengths(dist="lognormal", mean=1e-300, std=MAX_TOKENS),  # (s/m)² overflows: σ² taken in logs
    Lengths(dist="lognormal", mean=100, std=MAX_TOKENS),
])
def test_draws_far_in_a_tail_are_clipped_never_wrapped(dist):
    values = _lengths(dist, 10_000, np.random.default_rng(0))
    assert values.dtype == np.int64 and values.min() >= 1 and values.max() <= MAX_TOKENS


def test_draws_are_clipped_to_max_and_image_counts_keep_0():
    rng = np.random.default_rng(0)
    assert _lengths(Lengths(dist="normal", mean=MAX_TOKENS, std=1, max=100), 5, rng).tolist() == [100] * 5
    images = _lengths(ImageCounts(dist="normal", mean=0.5, std=1), 1000, rng)
    assert images.min() == 0 and ImageCounts(dist="fixed", value=0).min == 0
    with pytest.raises(ValueError, match="less than or equal to 2147483648"):
        ImageCounts(dist="fixed", value=MAX_TOKENS + 1)


# ---- 4. trace files: not UTF-8, or more rows than one run holds ------------------------------------------------

def with_trace(data: bytes) -> str:
    """GOOD driven by the trace t.csv holding ``data``."""
    with open("t.csv", "wb") as f:
        f.write(data)
    return GOOD.replace("process: poisson, rate: 2", "trace: t.csv").replace(
        "  prompt_tokens: {dist: fixed, value: 10}\n  output_tokens: {dist: fixed, value: 2}\n", "").replace(
        "  requests: 5\n", "")


def test_a_trace_that_is_not_utf8_is_one_line_naming_the_file_and_line(here, capsys):
    text = with_trace(b"arrival_s,prompt_tokens,output_tokens\n0,10,2\n\xff\xfe0,10,2\n")
    assert cli_error(capsys, text) == ("accelsim: error: t.csv:3: not UTF-8 text (byte 0xff at column 1); save the "
                                       "trace as UTF-8 CSV")


def test_a_trace_line_longer_than_the_limit_is_one_line(here, capsys, monkeypatch):
    monkeypatch.setattr(requests_module, "MAX_TRACE_LINE", 64)
    text = with_trace(b"arrival_s,prompt_tokens,output_tokens\n0,10,2" + b"0" * 100 + b"\n")
    assert cli_error(capsys, text) == "accelsim: error: t.csv:2: line longer than 64 bytes: not a trace CSV"


@pytest.mark.parametrize("row, line", [
    (b"0,2147483649,2\n", "t.csv:2: prompt_tokens: expected at most 2,147,483,648 (2^31) (got '2147483649')"),
    (b'0,10,"' + b"2" * 200_000 + b'"\n', "t.csv:2: not a CSV file (field larger than field limit (131072))"),
])
def test_a_trace_row_beyond_the_limits_is_one_line(here, capsys, row, line):
    text = with_trace(b"arrival_s,prompt_tokens,output_tokens\n" + row)
    assert cli_error(capsys, text) == f"accelsim: error: {line}"


def test_a_trace_with_a_byte_order_mark_or_old_mac_line_ends_reads(here):
    with open("s.yaml", "w") as f:
        f.write(with_trace(b"\xef\xbb\xbfarrival_s,prompt_tokens,output_tokens\r0,10,2\r0.5,12,3\r"))
    spec = load_serving("s.yaml")
    assert [(r.arrival, r.prompt, r.output) for r in make_requests(spec.serve.workload, spec.trace_file)] == [
        (0.0, 10, 2), (0.5, 12, 3)]


def test_request_ids_are_the_trace_rows_and_an_unsorted_trace_is_refused_at_its_first_out_of_order_line(here,
                                                                                                     capsys):
    # request i is the trace's i-th data row (line i + 2): requests.csv joins back to the trace by id
    with open("s.yaml", "w") as f:
        f.write(with_trace(b"arrival_s,prompt_tokens,output_tokens\n0,10,2\n1.5,11,3\n1.5,12,4\n3,13,5\n"))
    spec = load_serving("s.yaml")
    assert [(r.id, r.arrival, r.prompt, r.output) for r in make_requests(spec.serve.workload, spec.trace_file)] == [
        (0, 0.0, 10, 2), (1, 1.5, 11, 3), (2, 1.5, 12, 4), (3, 3.0, 13, 5)]  # equal arrivals keep their order
    # rows 5.0, 1.0, 3.0, 0.5 (the probe's t1.csv and one more): line 3 is the first before the row above it, and
    # only the first is named (line 5 is out of order as well)
    text = with_trace(b"arrival_s,prompt_tokens,output_tokens\n5.0,512,128\n1.0,512,128\n3.0,512,128\n0.5,1,1\n")
    assert cli_error(capsys, text) == (
        "accelsim: error: t.csv:3: arrival_s: before line 2's 5 s: a trace's rows must be in order of arrival "
        "(request i is its i-th row); sort it by arrival_s (got '1.0')")


def test_a_trace_with_several_bad_rows_names_every_one_capped_as_a_files_problems(here, capsys, monkeypatch):
    # line 2: prompt_tokens not an integer; line 3: output_tokens NaN; line 4 good; line 5: arrival_s -1 and
    # prompt_tokens 0 (both named; its arrival is not one to order by); line 6: 0.5 s after line 4's 2 s, out of
    # order
    text = with_trace(b"arrival_s,prompt_tokens,output_tokens\n0,ten,2\n1,10,nan\n2,10,2\n-1,0,2\n0.5,10,2\n")
    with open("s.yaml", "w") as f:
        f.write(text)
    assert main(["serve", "s.yaml", "-q", "--no-plots", "-o", "out"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "accelsim: error: t.csv:2: prompt_tokens: expected an integer (got 'ten')",
        "accelsim: error: t.csv:3: output_tokens: expected an integer (got 'nan')",
        "accelsim: error: t.csv:5: arrival_s: expected a value >= 0 (got '-1')",
        "accelsim: error: t.csv:5: prompt_tokens: expected a value >= 1 (got '0')",
        "accelsim: error: t.csv:6: arrival_s: before line 4's 2 s: a trace's rows must be in order of arrival (request i is its "
        "i-th row); sort it by arrival_s (got '0.5')"]
    # at most MAX_ISSUES of them, then how many more: 2 shown of the 5 problems, "3 more problems not shown"
    monkeypatch.setattr("accelsim.config.schema.MAX_ISSUES", 2)
    assert main(["serve", "s.yaml", "-q", "--no-plots", "-o", "out"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and lines[2] == "accelsim: error: t.csv: 3 more problems not shown"


def test_a_trace_longer_than_max_requests_is_one_line_unless_requests_takes_its_first_n(here, capsys, monkeypatch):
    monkeypatch.setattr(requests_module, "MAX_REQUESTS", 3)  # as 1,000,001 rows against the 1,000,000 cap
    rows = b"arrival_s,prompt_tokens,output_tokens\n" + b"".join(b"%d,10,2\n" % i for i in range(5))
    text = with_trace(rows)
    assert cli_error(capsys, text) == (
        "accelsim: error: s.yaml:5: workload: the trace t.csv holds more than 3 requests (line 5): at most 3 in one "
        "run (give workload.requests: N for its first N)")
    # the first N, or the rows before the duration, are no more than the cap: no error, and none dropped silently
    for edit, arrivals in ((["workload.requests=3"], [0, 1, 2]), (["workload.duration=2.5s"], [0, 1, 2])):
        spec = load_serving("s.yaml", edit)
        assert [r.arrival for r in make_requests(spec.serve.workload, spec.trace_file)] == arrivals


def test_a_bursty_process_drawing_more_than_max_requests_is_one_line(here, capsys, monkeypatch):
    monkeypatch.setattr(requests_module, "MAX_REQUESTS", 100)
    # expected 2 × 45 = 90 ≤ 100, but cv 10 arrivals come in bursts: this seed draws more than 100 in 45 s
    text = GOOD.replace("{process: poisson, rate: 2}", "{process: gamma, rate: 2, cv: 10}").replace(
        "requests: 5", "duration: 45s\n  seed: 1")
    assert cli_error(capsys, text) == (
        "accelsim: error: s.yaml:5: workload: more than 100 requests arrived in the duration (a bursty arrival "
        "process): at most that many in one run (shorten the duration or lower the rate)")


def test_rate_times_duration_beyond_floats_is_one_line(here, capsys):
    text = GOOD.replace("rate: 2", "rate: 1e10").replace("requests: 5", "duration: 1e300s")
    # rate × duration arrivals, checked with the file: at the one set last (both in the file: the first, the rate),
    # naming the other's line (probe p30: a --set rate was blamed on the file's workload: line)
    assert cli_error(capsys, text) == (
        "accelsim: error: s.yaml:6: workload.arrival.rate: 1e+10/s with duration 1e+300 s, s.yaml:9 gives over 1e308 "
        "requests (duration × rate): at most 1,000,000 in one run (lower the rate)")
    text = GOOD.replace("requests: 5", "duration: 10s")  # 2/s × 10 s = 20 requests: fine until a --set
    assert cli_error(capsys, text, "--set", "workload.arrival.rate=1e30") == (
        "accelsim: error: --set: workload.arrival.rate: 1e+30/s with duration 10 s, s.yaml:9 gives 1e+31 requests "
        "(duration × rate): at most 1,000,000 in one run (lower the rate)")
    # 2/s × 500,001 s = 1,000,002 requests, the duration set last
    assert cli_error(capsys, text, "--set", "workload.duration=500001s") == (
        "accelsim: error: --set: workload.duration: 500001 s at rate 2/s, s.yaml:6 gives 1,000,002 requests "
        "(duration × rate): at most 1,000,000 in one run (shorten the duration)")


# ---- 5. the grid's ratios: at most 64 values an axis, computed not counted ---------------------------------------

def test_a_batch_ratio_just_above_1_is_one_line_at_once(here, capsys):
    assert cli_error(capsys, GOOD, "--set", "cost.batch_ratio=1.0000000000000002") == (
        "accelsim: error: --set: cost.batch_ratio: the grid would step through 6.24e+15 decode batch sizes from 1 "
        "to max_num_seqs (4): at most 64; use a ratio of at least 1.023 (got 1.0000000000000002)")


def test_a_token_ratio_making_thousands_of_prefills_is_one_line(here, capsys):
    assert cli_error(capsys, GOOD + "cost: {token_ratio: 1.001}\n") == (
        "accelsim: error: s.yaml:10: cost.token_ratio: the grid would step through 4,856 prefill token counts from "
        "16 to max_num_batched_tokens (2,048): at most 64; use a ratio of at least 1.081 (got 1.001)")


def test_the_least_ratio_the_error_offers_is_accepted(here):
    with open("s.yaml", "w") as f:
        f.write(GOOD)
    spec = load_serving("s.yaml", ["cost.token_ratio=1.081", "cost.batch_ratio=1.023"])
    assert len(geometric(16, 2048, spec.serve.cost.token_ratio)) <= MAX_GRID_POINTS


@pytest.mark.parametrize("first, last, ratio", [(1, 128, 2.0), (1, 256, 4.0), (16, 2048, 2.0), (16, 2000, 3.0),
                                                (1, 4, 1.3), (16, 2048, 1.081), (7, 7, 2.0)])
def test_grid_points_bounds_the_geometric_axis(first, last, ratio):
    n = grid_points(first, last, ratio)
    assert len(geometric(first, last, ratio)) <= n
    if ratio >= 2:  # no rounding merges values: exactly the axis' length
        assert len(geometric(first, last, ratio)) == n


# ---- 6. replicas: bounded ----------------------------------------------------------------------------------------

def test_a_billion_replicas_is_one_line(here, capsys):
    assert cli_error(capsys, GOOD, "--set", "replicas=1000000000") == (
        "accelsim: error: --set: replicas: Input should be less than or equal to 4096 (got 1000000000)")


def test_disaggregated_replicas_are_bounded_each_and_together(here, capsys):
    line = cli_error(capsys, GOOD + "disaggregation: {prefill_replicas: 5000, decode_replicas: 1}\n")
    assert line == ("accelsim: error: s.yaml:10: disaggregation.prefill_replicas: Input should be less than or equal "
                    "to 4096 (got 5000)")
    line = cli_error(capsys, GOOD + "disaggregation: {prefill_replicas: 4000, decode_replicas: 100}\n")
    assert line == ("accelsim: error: s.yaml:10: disaggregation.prefill_replicas: 4,000 + decode_replicas (100, "
                    "s.yaml:10) make 4,100 replicas: at most 4096")
    # the key a --set gave, not the file's section line (probe p74 #3: the validator's errors had no key)
    line = cli_error(capsys, GOOD + "disaggregation: {prefill_replicas: 1, decode_replicas: 2}\n", "--set",
                     "disaggregation.decode_replicas=4096")
    assert line == ("accelsim: error: --set: disaggregation.decode_replicas: 4,096 + prefill_replicas (1, s.yaml:10) "
                    "make 4,097 replicas: at most 4096")


def test_replicas_against_disaggregation_name_the_key_set_last(here, capsys):
    # probe p74 #3: these landed at s.yaml:1 with no key. replicas 2 against 1 + 2 = 3 disaggregated replicas
    disagg = "disaggregation: {prefill_replicas: 1, decode_replicas: 2, bandwidth: 50GB/s}\n"
    line = cli_error(capsys, GOOD + disagg, "--set", "replicas=2")
    assert line == ("accelsim: error: --set: replicas: 2, but disaggregation's prefill_replicas + decode_replicas "
                    "make 3 (1 + 2, s.yaml:10): leave replicas out (or give 3)")
    # both in the file: at replicas's own line (line 10; disaggregation on line 11)
    line = cli_error(capsys, GOOD + "replicas: 2\n" + disagg)
    assert line.startswith("accelsim: error: s.yaml:10: replicas: 2, but ") and line.endswith("(1 + 2, s.yaml:11): "
                                                                                          "leave replicas out (or give 3)")
    # a conversation workload given on the command line over the file's disaggregation
    line = cli_error(capsys, GOOD + disagg, "--set", "workload.conversation={turns: 2}")
    assert line.startswith("accelsim: error: --set: workload.conversation: not with disaggregation, s.yaml:10 (")


RP = """name: rp
model: {model: llama2_7b, tensor_parallel: 2}
arch: dgx-h100
replicas: 3
disaggregation: {prefill_replicas: 1, decode_replicas: 1}
workload:
  arrival: {process: constant, rate: 4}
  prompt_tokens: {dist: fixed, value: 64}
  output_tokens: {dist: fixed, value: 8}
  requests: 4
"""  # probe p81 #2's rp.yaml: replicas on line 4, disaggregation on line 5


def test_replicas_clash_is_at_the_key_set_last_with_each_values_own_source(here, capsys):
    # probe p81 #2: was "rp.yaml:4: replicas: 3, but ... make 4096 (1 + 4095, rp.yaml:5)", though 4095 came from
    # --set and rp.yaml:5 holds 1. 1 + 4095 = 4096 (within the 4096 cap), against replicas 3 at line 4
    line = cli_error(capsys, RP, "--set", "disaggregation.decode_replicas=4095")
    assert line == ("accelsim: error: --set: disaggregation.decode_replicas: 4,095 + prefill_replicas (1, s.yaml:5) "
                    "make 4,096 replicas, but replicas is 3 (s.yaml:4): leave replicas out (or give 4096)")
    # the same with replicas: 2 in the file; and prefill_replicas from --set: 5 + 1 = 6
    line = cli_error(capsys, RP.replace("replicas: 3", "replicas: 2"), "--set", "disaggregation.prefill_replicas=5")
    assert line == ("accelsim: error: --set: disaggregation.prefill_replicas: 5 + decode_replicas (1, s.yaml:5) "
                    "make 6 replicas, but replicas is 2 (s.yaml:4): leave replicas out (or give 6)")
    # replicas set last, after a --set of decode_replicas: each summand cited where it came from (1 + 5 = 6)
    line = cli_error(capsys, RP, "--set", "disaggregation.decode_replicas=5", "--set", "replicas=9")
    assert line == ("accelsim: error: --set: replicas: 9, but disaggregation's prefill_replicas + decode_replicas "
                    "make 6 (1, s.yaml:5 + 5, --set): leave replicas out (or give 6)")
    # and the reverse order: decode_replicas is the key set last (1 + 5 = 6 against replicas 9 from --set)
    line = cli_error(capsys, RP, "--set", "replicas=9", "--set", "disaggregation.decode_replicas=5")
    assert line == ("accelsim: error: --set: disaggregation.decode_replicas: 5 + prefill_replicas (1, s.yaml:5) "
                    "make 6 replicas, but replicas is 9 (--set): leave replicas out (or give 6)")


# ---- 7. --sweep: every point checked before any runs -------------------------------------------------------------

def test_a_sweep_point_without_room_for_kv_fails_before_any_point_runs(here, capsys, monkeypatch):
    from accelsim.serving import curve

    ran = []
    monkeypatch.setattr(curve, "serve", lambda spec, progress=None: ran.append(spec))
    line = cli_error(capsys, GOOD, "--sweep", "engine.gpu_memory_fraction=0.9,0.8,0.01")
    # LLaMA-2-7B's fp16 weights (13,476,831,232 B) fill more than 0.01 of the H100's 80 GiB, not the whole of it:
    # the limit is the fraction, given by the sweep after the file's model
    # (0.01 x 85,899,345,920 = 858,993,459.2 B: the weights alone do not fit, probe p258 #2's wording)
    assert line == ("accelsim: error: --sweep: engine.gpu_memory_fraction: the weights alone (13,476,831,232 B per "
                    "chip) do not fit in 0.01 of 85,899,345,920 B = 858,993,459 B (use more tensor parallelism or, "
                    "for a mixture of experts, expert parallelism (model.expert_parallel), or a larger "
                    "gpu_memory_fraction)")  # the --sweep label names the point: no "; at --sweep ..." again
    assert ran == [] and not (here / "out").exists()


def test_recurrent_states_without_room_suggest_fewer_sequences():
    # h100: 85,899,345,920 B; 0.9 of it 77,309,411,328 B. Weights 1e10 B and 1,000 sequences of 1e8 B of state
    # (1e11 B) leave none: the states are what max_num_seqs sizes, so that key is the first remedy; 1e10 + 1e11 B
    # is more than the whole 85,899,345,920 B, so a larger gpu_memory_fraction (at most 1) would not help
    from accelsim.config import load_arch
    from accelsim.config.serving import EngineConfig
    from accelsim.serving.cost import Footprint, kv_blocks

    msg = kv_blocks(Footprint(10**10, 1000.0, 10**8), load_arch("h100"), EngineConfig(max_num_seqs=1000))
    assert msg == ("the weights (10,000,000,000 B per chip) and 1000 sequences' recurrent states (100,000,000,000 B) "
                   "leave no room for a KV block in 0.9 of 85,899,345,920 B (lower engine.max_num_seqs, use more "
                   "tensor parallelism or a chip with more memory: the engine holds weights and KV cache in hbm, "
                   "and gpu_memory_fraction is at most 1)")
    # 100 sequences' 1e10 B fit: ⌊(77,309,411,328 − 2e10) / (16 tokens × 1,000 B)⌋ = 3,581,838 blocks
    assert kv_blocks(Footprint(10**10, 1000.0, 10**8), load_arch("h100"), EngineConfig(max_num_seqs=100)) == 3_581_838


def test_weights_alone_over_the_memory_are_said_not_to_fit_not_blamed_on_the_states():
    # probe p258 #2: Qwen3-Next-80B on one h200 (tensor_parallel 1): the report's 159,348,782,592 B of weights a chip
    # and 64 sequences' recurrent states of 39,518,208 B each (its 2,529,165,312 B / 64). 0.9 of the H200's usable
    # 150,109,880,320 B (arch/h200.yaml: the lent H200's reported total) is 135,098,892,288 B, less than the weights
    # alone: no max_num_seqs helps, nor any fraction (the weights exceed the whole memory too)
    from accelsim.config import load_arch
    from accelsim.config.serving import EngineConfig
    from accelsim.serving.cost import Footprint, kv_blocks

    msg = kv_blocks(Footprint(159_348_782_592, 24_576.0, 39_518_208), load_arch("h200"), EngineConfig(max_num_seqs=64))
    assert msg == ("the weights alone (159,348,782,592 B per chip) do not fit in 0.9 of 150,109,880,320 B = "
                   "135,098,892,288 B (use more tensor parallelism or, for a mixture of experts, expert parallelism "
                   "(model.expert_parallel), or a chip with more memory: the engine holds weights and KV cache in "
                   "hbm, and gpu_memory_fraction is at most 1)")
    # h100, 0.9 of it 77,309,411,328 B: weights of 77,309,000,000 B leave 411,328 B, less than one sequence's 1e6 B of
    # state, so fewer sequences cannot help (not suggested); 85,899,345,920 − 77,309,000,000 − 256 × 1e6 =
    # 8,334,345,920 B of the whole memory holds a 16 × 1,000 B block: a larger fraction is suggested
    msg = kv_blocks(Footprint(77_309_000_000, 1000.0, 10**6), load_arch("h100"), EngineConfig())
    assert msg == ("the weights (77,309,000,000 B per chip) and 256 sequences' recurrent states (256,000,000 B) leave "
                   "no room for a KV block in 0.9 of 85,899,345,920 B (use more tensor parallelism or a larger "
                   "gpu_memory_fraction)")


def test_no_room_suggests_a_larger_fraction_only_where_one_would_hold_a_block():
    # h100: 85,899,345,920 B. A KV block of 16 tokens x 1,000 B = 16,000 B. Weights of 80e9 B: 0.9 of the memory
    # (77,309,411,328 B) leaves none, the whole of it 5,899,345,920 B: a larger fraction is the remedy. Weights of
    # 85,899,340,000 B leave 5,920 B of the whole memory, less than a block: at 0.9 or 1.0 the remedy is more chips
    # or memory (gpu_memory_fraction is at most 1; vLLM refuses more)
    from accelsim.config import load_arch
    from accelsim.config.serving import EngineConfig
    from accelsim.serving.cost import Footprint, kv_blocks

    # (both weights exceed 0.9 of the memory, 77,309,411,328 B: there the messages say the weights alone do not fit,
    # probe p258 #2; at 1.0 the second fits with 5,920 B to spare, which holds no block)
    h100 = load_arch("h100")
    ep = "use more tensor parallelism or, for a mixture of experts, expert parallelism (model.expert_parallel), "
    assert kv_blocks(Footprint(80 * 10**9, 1000.0), h100, EngineConfig()).endswith(
        f"in 0.9 of 85,899,345,920 B = 77,309,411,328 B ({ep}or a larger gpu_memory_fraction)")
    whole = ("or a chip with more memory: the engine holds weights and KV cache in hbm, and gpu_memory_fraction is at "
             "most 1)")
    msg = kv_blocks(Footprint(85_899_340_000, 1000.0), h100, EngineConfig(gpu_memory_fraction=0.9))
    assert msg.endswith(f"in 0.9 of 85,899,345,920 B = 77,309,411,328 B ({ep}{whole}")
    msg = kv_blocks(Footprint(85_899_340_000, 1000.0), h100, EngineConfig(gpu_memory_fraction=1.0))
    assert msg.endswith(f"leave no room for a KV block in 1.0 of 85,899,345,920 B (use more tensor parallelism {whole}")
    # at 1.0 with room for a block it is a number: ⌊(85,899,345,920 − 80e9) / 16,000⌋ = 368,709 blocks
    assert kv_blocks(Footprint(80 * 10**9, 1000.0), h100, EngineConfig(gpu_memory_fraction=1.0)) == 368_709


def test_a_sweep_point_with_too_many_requests_fails_before_any_point_runs(here, capsys, monkeypatch):
    from accelsim.serving import curve

    ran = []
    monkeypatch.setattr(curve, "serve", lambda spec, progress=None: ran.append(spec))
    text = GOOD.replace("requests: 5", "duration: 1000s")
    line = cli_error(capsys, text, "--sweep", "workload.arrival.rate=1,10,2000")
    assert line == ("accelsim: error: --sweep: workload.arrival.rate: 2000/s with duration 1000 s, s.yaml:9 gives "
                    "2,000,000 requests (duration × rate): at most 1,000,000 in one run (lower the rate)")
    assert ran == []


def test_sweep_hands_each_point_over_as_it_finishes(here, monkeypatch):
    # a failure no check can foresee (here the third point's simulation) leaves the finished points with the caller
    from accelsim.serving import curve

    def fake(spec, progress=None):
        if spec.serve.workload.arrival.rate == 3:
            raise RuntimeError("simulation failed")
        return spec.serve.workload.arrival.rate

    monkeypatch.setattr(curve, "serve", fake)
    with open("s.yaml", "w") as f:
        f.write(GOOD)
    done = []
    with pytest.raises(RuntimeError):
        curve.sweep("s.yaml", "workload.arrival.rate", ["1", "2", "3"], on_point=lambda i, res: done.append((i, res)))
    assert done == [(0, 1), (1, 2)]


def test_tensor_parallelism_beyond_the_archs_chips_is_named_at_the_model(here, capsys):
    # llama2_7b on one H100 split over 2 chips: refused before any simulation, at the model's line (it was an op's
    # mapping error naming neither the file nor the key)
    line = cli_error(capsys, GOOD.replace("tensor_parallel: 1", "tensor_parallel: 2"))
    assert line.startswith("accelsim: error: s.yaml:2: model.tensor_parallel: 2 chips a replica need an arch with "
                           "at least 2 chips and an interconnect ('h100' has 1"), line


def test_too_many_chips_suggests_the_same_hardware_never_the_one_that_failed(here, capsys):
    # probe p121 #2: 16 chips on dgx-h100 (arch/dgx-h100.yaml chips: 8) suggested "e.g. arch: dgx-h100" itself;
    # probe p138 #2: then "e.g. arch: tpu-v5p-128", a TPU pod for an H100 system, and a100 for tpu-v4. The hint stays
    # on the failed arch's hardware: its family's multi-chip preset (the preset whose base: it is) when that holds
    # the chips, else more chips on it with --set arch.chips where that arch is then valid, else none
    text = GOOD.replace("arch: h100", "arch: dgx-h100")
    line = cli_error(capsys, text.replace("tensor_parallel: 1", "tensor_parallel: 16"))
    assert line.endswith("at least 16 chips and an interconnect ('dgx-h100' has 8; e.g. --set arch.chips=16) "
                         "(got 16)"), line
    grown = load_arch({"base": "dgx-h100", "chips": 16})  # what the hint asks for is a valid arch of 16 H100s
    assert grown.chips == 16 and grown.interconnect is not None
    assert grown.core == load_arch("dgx-h100").core
    # one H100 split over 2: the same chips on NVSwitch, dgx-h100 (8 H100s, arch/dgx-h100.yaml base: h100); over 16,
    # dgx-h100 with 16 chips
    line = cli_error(capsys, GOOD.replace("tensor_parallel: 1", "tensor_parallel: 2"))
    assert line.endswith("('h100' has 1; e.g. arch: dgx-h100) (got 2)"), line
    line = cli_error(capsys, GOOD.replace("tensor_parallel: 1", "tensor_parallel: 16"))
    assert line.endswith("('h100' has 1; e.g. arch: dgx-h100 with --set arch.chips=16) (got 16)"), line
    # tpu-v4 has no multi-chip preset and no interconnect: no hint (not dgx-a100); tpu-v5e's tpu-v5e-8 is a 2x4
    # torus whose shape fixes its 8 chips, so "--set arch.chips=16" alone would be refused: no hint either
    for arch in ("tpu-v4", "tpu-v5e"):
        line = cli_error(capsys, GOOD.replace("arch: h100", f"arch: {arch}").replace("tensor_parallel: 1",
                                                                                      "tensor_parallel: 16"))
        assert line.endswith(f"('{arch}' has 1) (got 16)"), line
    with pytest.raises(ConfigError, match="interconnect.shape"):
        load_arch({"base": "tpu-v5e-8", "chips": 16})


def test_max_num_seqs_is_bounded(here, capsys):
    line = cli_error(capsys, GOOD.replace("max_num_seqs: 4}", "max_num_seqs: 9000000000000000000}"))
    assert "engine.max_num_seqs: Input should be less than or equal to 65536" in line


def test_settings_a_serving_engine_cannot_run_are_one_line(here, capsys):
    # sequence parallelism splits a prompt's tokens (a decode step has one a sequence); a training step is no
    # serving iteration; expert parallelism over more chips than the arch has (each was an internal error or an
    # op's mapping error in the middle of a run)
    text = GOOD.replace("arch: h100", "arch: dgx-h100")
    line = cli_error(capsys, text.replace("tensor_parallel: 1}", "tensor_parallel: 2, sequence_parallel: true}"))
    assert line.startswith("accelsim: error: s.yaml:2: model.sequence_parallel: not with serving"), line
    line = cli_error(capsys, text.replace("tensor_parallel: 1}", "tensor_parallel: 1, mode: training}"))
    assert line.startswith("accelsim: error: s.yaml:2: model.mode: a serving run prices inference"), line
    moe = text.replace("model: {model: llama2_7b, tensor_parallel: 1}",
                       "model: {base: qwen1_5_moe_a2_7b, expert_parallel: 12}")
    line = cli_error(capsys, moe)
    assert line.startswith("accelsim: error: s.yaml:2: model.expert_parallel: 12 chips a replica need"), line


def test_a_trace_run_asks_for_at_most_max_requests(here, capsys):
    from accelsim.config.serving import MAX_REQUESTS

    line = cli_error(capsys, GOOD.replace("requests: 5", f"requests: {MAX_REQUESTS + 1}"))
    assert f"workload.requests: Input should be less than or equal to {MAX_REQUESTS}" in line


# ---- 8. --sweep: a key once, several crossed (one with --capacity), values' errors labelled --sweep --------------

def test_a_key_swept_twice_is_one_line_not_a_sweep_of_the_last(here, capsys, monkeypatch):
    # argparse kept only the last --sweep: a sweep of one key, in silence
    from accelsim.serving import curve

    ran = []
    monkeypatch.setattr(curve, "serve", lambda spec, progress=None: ran.append(spec))
    args = ["--sweep", "engine.max_num_seqs=16,32", "--sweep", "engine.max_num_seqs=64"]
    line = "accelsim: error: --sweep: engine.max_num_seqs: given 2 times; give it once with all its values"
    assert cli_error(capsys, GOOD, *args).startswith(line)
    assert cli_error(capsys, GOOD, "--capacity", *args).startswith(line)
    assert ran == [] and not (here / "out").exists()


def test_a_capacity_search_sweeps_one_key(here, capsys, monkeypatch):
    # capacity_sweep.csv has one row a value of one key: two keys are one line naming both (and no search runs)
    from accelsim.serving import capacity

    monkeypatch.setattr(capacity, "capacity_sweep", lambda *a, **k: pytest.fail("searched"))
    line = cli_error(capsys, GOOD, "--capacity", "--sweep", "engine.max_num_seqs=16,32", "--sweep",
                     "engine.block_size=8,16")
    assert line.startswith("accelsim: error: --capacity --sweep: one key a search; got engine.max_num_seqs and "
                           "engine.block_size"), line
    assert "accelsim sweep" not in line  # which cannot sweep a serving file
    assert not (here / "out").exists()


def test_several_sweep_keys_make_their_product_first_key_outermost():
    from accelsim.serving.curve import parse_sweeps

    keys, points = parse_sweeps(["workload.arrival.rate=1,2", "engine.max_num_seqs=4,8,16"])
    assert keys == ("workload.arrival.rate", "engine.max_num_seqs")
    # 2 × 3 = 6 points, the rate's values outermost, each key's values in the order given
    assert points == [("1", "4"), ("1", "8"), ("1", "16"), ("2", "4"), ("2", "8"), ("2", "16")]


def test_a_sweep_of_two_keys_runs_each_point_with_both_values_in_order(here, monkeypatch):
    from accelsim.serving import curve

    monkeypatch.setattr(curve, "serve", lambda spec, progress=None: (spec.serve.workload.arrival.rate,
                                                                     spec.serve.engine.max_num_seqs))
    with open("s.yaml", "w") as f:
        f.write(GOOD)
    keys, points = curve.parse_sweeps(["workload.arrival.rate=1,3", "engine.max_num_seqs=2,4"])
    done = []
    got = curve.sweep("s.yaml", keys, points, on_point=lambda i, res: done.append(i))
    assert got == [(1.0, 2), (1.0, 4), (3.0, 2), (3.0, 4)] and done == [0, 1, 2, 3]
    # a bad point is named by every key's value
    with pytest.raises(ConfigError) as e:
        curve.sweep("s.yaml", keys, [("1", "2"), ("1", "0")])
    assert "engine.max_num_seqs" in str(e.value)
    assert curve.point_text(keys, ("1", "0")) == "workload.arrival.rate=1 engine.max_num_seqs=0"
    assert curve.curve_columns(keys)[:3] == ("value", "workload.arrival.rate", "engine.max_num_seqs")
    assert curve.curve_columns("workload.arrival.rate") == curve.CURVE_COLUMNS  # one key: sweep.csv as before


def test_a_point_of_several_keys_that_fails_its_checks_names_every_value(here, capsys, monkeypatch):
    # the issue is at the --sweep item of the fraction, but the point is a combination: the other key's value is
    # named too (probe p38 finding 2: dropping the suffix for any --sweep-labelled issue lost the combination)
    from accelsim.serving import curve

    monkeypatch.setattr(curve, "serve", lambda spec, progress=None: None)
    line = cli_error(capsys, GOOD, "--sweep", "workload.arrival.rate=1,2", "--sweep",
                     "engine.gpu_memory_fraction=0.9,0.01")
    assert line.startswith("accelsim: error: --sweep: engine.gpu_memory_fraction: ") and line.endswith(
        "; at --sweep workload.arrival.rate=1 engine.gpu_memory_fraction=0.01"), line


def test_a_bad_sweep_value_is_labelled_sweep_not_set(here, capsys):
    assert cli_error(capsys, GOOD, "--sweep", "engine.max_num_seqs=2,x") == (
        "accelsim: error: --sweep: engine.max_num_seqs: Input should be a valid integer, unable to parse string as "
        "an integer (got 'x')")
    assert cli_error(capsys, GOOD, "--set", "engine.max_num_seqs=x") == (
        "accelsim: error: --set: engine.max_num_seqs: Input should be a valid integer, unable to parse string as "
        "an integer (got 'x')")


# ---- 9. the model's pass shape: the engine's, not the file's -------------------------------------------------------

WHY = "set by the serving engine for each iteration (workload.* and engine.* shape the requests and batches)"


@pytest.mark.parametrize("key, value", [("batch", "64"), ("seq_len", "128"), ("kv_len", "128"),
                                        ("phase", "decode"), ("decode_steps", "4")])
def test_a_pass_shape_set_on_the_model_is_one_line_not_ignored(here, capsys, key, value):
    # the engine sets each iteration's shape: the results were those of no override at all
    shown = repr(value) if value == "decode" else value
    assert cli_error(capsys, GOOD, "--set", f"model.{key}={value}") == (
        f"accelsim: error: --set: model.{key}: {WHY} (got {shown})")
    text = GOOD.replace("tensor_parallel: 1}", f"tensor_parallel: 1, {key}: {value}}}")
    assert cli_error(capsys, text) == f"accelsim: error: s.yaml:2: model.{key}: {WHY} (got {shown})"


def test_a_pass_shape_from_sweep_or_a_base_mapping_is_one_line(here, capsys):
    assert cli_error(capsys, GOOD, "--sweep", "model.batch=1,2") == (
        f"accelsim: error: --sweep: model.batch: {WHY} (got 1)")
    text = GOOD.replace("{model: llama2_7b, tensor_parallel: 1}", "{base: llama2_7b, seq_len: 64}")
    assert cli_error(capsys, text) == f"accelsim: error: s.yaml:2: model.seq_len: {WHY} (got 64)"


def test_the_presets_own_pass_shape_is_no_error(here):
    # workloads/llama2_7b.yaml has batch 1, seq_len 512, ...: its defaults, not the user's
    with open("s.yaml", "w") as f:
        f.write(GOOD.replace("{model: llama2_7b, tensor_parallel: 1}", "llama2_7b"))
    spec = load_serving("s.yaml", ["model.tensor_parallel=1"])
    assert spec.model.params["seq_len"] == 512 and spec.model.params["batch"] == 1
    load_serving("s.yaml", ["model=llama2_7b"])
    load_serving("llama2_7b_h100")


# ---- 10. a trace's columns: every one read ------------------------------------------------------------------------

COLUMNS = "(columns: arrival_s, prompt_tokens, output_tokens, prefix_group, images)"


@pytest.mark.parametrize("header, line", [
    (b"arrival_s,prompt_tokens,output_tokens,prefix_grup",
     f"t.csv:1: prefix_grup: unknown column; did you mean 'prefix_group'? {COLUMNS}"),
    (b"arrival_s,prompt_tokens,output_tokens,foo", f"t.csv:1: foo: unknown column {COLUMNS}"),
])
def test_an_unknown_trace_column_is_one_line_not_ignored(here, capsys, header, line):
    # a misspelt prefix_group was dropped in silence: no request had a prefix, and prefix caching did nothing
    text = with_trace(header + b"\n0,600,10,1\n0.1,600,10,1\n")
    assert cli_error(capsys, text) == f"accelsim: error: {line}"


def test_a_trace_with_every_column_reads(here):
    with open("s.yaml", "w") as f:
        f.write(with_trace(b"arrival_s,prompt_tokens,output_tokens,prefix_group,images\n0,10,2,1,0\n0.5,12,3,,\n"))
    spec = load_serving("s.yaml")
    assert [(r.arrival, r.group) for r in make_requests(spec.serve.workload, spec.trace_file)] == [(0.0, 1), (0.5, -1)]


def test_a_trace_with_an_unnamed_index_column_reads(here):
    # pandas' DataFrame.to_csv writes its index as a first column with an empty name: not a misspelt column
    with open("s.yaml", "w") as f:
        f.write(with_trace(b",arrival_s,prompt_tokens,output_tokens\n0,0,10,2\n1,0.5,12,3\n"))
    spec = load_serving("s.yaml")
    assert [r.arrival for r in make_requests(spec.serve.workload, spec.trace_file)] == [0.0, 0.5]


# ---- 11. the engine's iterations: bounded by options.memory_budget before the run ----------------------------------

def test_a_run_whose_iterations_outgrow_the_memory_budget_is_one_line_before_it_starts(here, capsys):
    # 5 requests × 2 output tokens = 10 tokens; an iteration samples at most min(max_num_batched_tokens 2048,
    # max_num_seqs 4 × 1) = 4 of them, so the run takes at least ⌈10 / 4⌉ = 3 iterations, 3 × 128 B = 384 B
    # (engine.ITERATION_BYTES): a 383 B budget is refused, 384 B is not
    assert cli_error(capsys, GOOD, "--set", "options.memory_budget=383") == (
        "accelsim: error: --set: options.memory_budget: 5 requests generate 10 output tokens, at most 4 an engine "
        "iteration (1 a sequence, engine.max_num_seqs = 4): at least 3 iterations, which need 384 B at ~128 B each, "
        "more than options.memory_budget (383 B) holds; raise options.memory_budget to at least 384 B, lower "
        "workload.requests (or duration) or workload.output_tokens, or raise engine.max_num_seqs")
    with open("s.yaml", "w") as f:
        f.write(GOOD)
    check(load_serving("s.yaml", ["options.memory_budget=384"]))
    # a token budget of 2 with max_num_seqs 2 (vLLM refuses a budget below max_num_seqs, probe p99 #8): ⌈10 / 2⌉ = 5
    # iterations, 640 B; raising max_num_seqs would not help
    line = cli_error(capsys, GOOD, "--set", "options.memory_budget=639", "--set", "engine.max_num_seqs=2",
                     "--set", "engine.max_num_batched_tokens=2")
    assert "at most 2 an engine iteration (engine.max_num_batched_tokens = 2): at least 5 iterations" in line
    assert line.endswith("or raise engine.max_num_batched_tokens")


@pytest.mark.parametrize("over, floor", [
    # 3 requests of 4 output tokens, 1 s apart (each done before the next): 4 iterations each (a prefill giving the
    # first token, 3 decodes), 12 in all; the floor ⌈12 / min(256, 8)⌉ = 2 is below it
    ({}, 2),
    # one sequence at a time: each iteration samples one token, so 12 tokens take exactly 12 iterations
    ({"engine": {"max_num_seqs": 1}}, 12),
    # one request of 9 tokens, 3 drafts a decode, every one accepted: a prefill (token 1), then 2 decodes of 4
    # tokens (test_serve_speculative.py); the floor ⌈9 / (1 × (1 + 3))⌉ = 3 is exact
    ({"engine": {"max_num_seqs": 1}, "workload": {"requests": 1, "output_tokens": {"dist": "fixed", "value": 9}},
      "speculative": {"method": "ngram", "num_tokens": 3, "acceptance_rate": 1.0}}, 3),
])
def test_the_iteration_floor_never_exceeds_the_iterations_a_run_takes(over, floor):
    from .test_serve import Stub, spec
    from .test_serve_speculative import Stub as DraftStub

    s = spec(**over)
    res = serve(s, cost=DraftStub() if "speculative" in over else Stub(fixed=0.1), blocks=1000)
    taken = sum(r.iterations for r in res.replicas)
    assert iteration_floor(s, make_requests(s.serve.workload), 1000)[0] == floor <= taken
    assert taken == (12 if not over else floor)


# ---- 12. a grid shape the memories cannot hold: named, at the engine limit that sets it ----------------------------

def test_a_grid_prefill_too_big_for_hbm_names_its_shape_and_what_to_change(here, capsys):
    # max_num_batched_tokens 65,536: the grid's prefills double up to it. At 32,768 tokens (one sequence) the
    # unfused attention's softmax reads 32 heads × 32,768² fp16 scores and writes them in fp32 (transformers' eager
    # softmax(..., dtype=torch.float32), probe p185 #2; the causal mask's 139,586,437,120 B were the largest before):
    # 32 × 32,768² × (2 + 4) B = 206,158,430,208 B, 120,259,084,288 B over the H100's 80 GiB (85,899,345,920 B);
    # 16,384 tokens needed a quarter. (Unfused attention as the user asks: a served model runs fused attention by
    # default, whose scores are never held whole.)
    line = cli_error(capsys, GOOD, "--set", "engine.max_num_batched_tokens=65536", "--set", "model.attention=unfused")
    # the weights and activations fit hbm and host together, so the activations' level, the binding constraint, is
    # the whole reason given (probe p283 #3: a totals clause showing no shortage came first)
    assert line.startswith("accelsim: error: --set: engine.max_num_batched_tokens: the iteration-cost grid's "
                           "prefill of 32,768 tokens (1 sequence of 32,768, unfused attention) does not fit: "
                           "llama2_7b: the activations (the inputs and output of op "
                           "'model.layers.0.self_attn.softmax', 206158430208 B) alone need 206158430208 B of hbm, "
                           "120259084288 B more than it holds; set model.attention: fused (its attention scores are "
                           "never held whole) or lower engine.max_num_batched_tokens"), line
    assert " but hbm" not in line
    assert "gradients" not in line and "stash" not in line  # an inference pass


# ---- 13. another kind of file given to serve (or a serving file to sweep): one line saying which command ------------

EXPERIMENT = "name: e\nworkload: {model: gemm, m: 64, n: 64, k: 64}\narch: h100\n"


@pytest.mark.parametrize("text, line", [
    (EXPERIMENT, "accelsim: error: s.yaml: this is an experiment, not a serving file (its workload has no arrivals); "
                 "run it with 'accelsim run s.yaml'"),
    ("name: e\nworkload: resnet50\narch: h100\n",
     "accelsim: error: s.yaml: this is an experiment, not a serving file (its workload has no arrivals); "
     "run it with 'accelsim run s.yaml'"),
    ("base: e.yaml\ngrid: {arch.clock: [1GHz, 2GHz]}\n",
     "accelsim: error: s.yaml: this is a sweep file (it has grid:/zip: axes); run it with 'accelsim sweep s.yaml' "
     "(a serving file is swept with 'accelsim serve FILE --sweep KEY=V1,V2,...')"),
])
def test_serve_on_an_experiment_or_a_sweep_is_one_line_naming_the_command(here, capsys, text, line):
    # serve printed a schema error per key (model missing, workload.arrival required, workload.m not permitted...)
    assert cli_error(capsys, text) == line


def test_an_unknown_top_level_key_near_a_sections_key_gets_a_did_you_mean(here, capsys):
    line = cli_error(capsys, GOOD + "arrivals: {rate: 2}\n")
    assert line == ("accelsim: error: s.yaml:10: arrivals: unknown key; did you mean 'workload.arrival'? (it goes "
                    "under workload:) (got {'rate': 2})")
    # a key near a top-level key keeps that hint; one near nothing keeps the list of keys
    assert cli_error(capsys, GOOD + "replica: 2\n").startswith(
        "accelsim: error: s.yaml:10: replica: unknown key; did you mean 'replicas'?")
    assert "unknown key; expected one of name, description, model" in cli_error(capsys, GOOD + "zzzz: 1\n")
    # a section's own key at the top is that key, before a top-level near miss (probe p34: duration: was told
    # 'disaggregation', prompt_tokens: 'options')
    for key, value, section in (("duration", "10s", "workload"), ("prompt_tokens", "{dist: fixed, value: 3}",
                                                                  "workload"), ("max_num_seqs", "8", "engine")):
        assert cli_error(capsys, GOOD + f"{key}: {value}\n").startswith(
            f"accelsim: error: s.yaml:10: {key}: unknown key; did you mean '{section}.{key}'? (it goes under "
            f"{section}:)")


@pytest.mark.parametrize("argv, line", [
    (["serve", "resnet50_tpu_v1"], "this is an experiment, not a serving file (its workload has no arrivals); run it "
                                   "with 'accelsim run resnet50_tpu_v1'"),
    (["serve", "llama2_decode_sram_bw_sweep"], "this is a sweep file (it has grid:/zip: axes); run it with 'accelsim "
                                               "sweep llama2_decode_sram_bw_sweep'"),
    (["run", "llama2_7b_h100"], "this is a serving file (its workload has arrivals); run it with 'accelsim serve "
                                "llama2_7b_h100'"),
    (["sweep", "llama2_7b_h100"], "this is a serving file (its workload has arrivals); run it with 'accelsim serve "
                                  "llama2_7b_h100'"),
])
def test_a_preset_of_another_kind_named_is_redirected_as_its_file_is(here, capsys, argv, line):
    # named, not given as a path: serve said "unknown serving preset", run and sweep suggested
    # 'llama2_7b_training_dgx_h100' for the serving preset llama2_7b_h100 (probe p34)
    assert main([*argv, "-q", "-o", "out"]) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert line in err, err


@pytest.mark.parametrize("base", ["srv.yaml", "{model: llama2_7b, arch: h100, workload: {arrival: {rate: 1}}}"])
def test_a_serving_file_as_a_sweeps_base_is_one_line_pointing_at_serve_sweep(here, capsys, base):
    # it gave 6 errors treating each serving key as an unknown experiment key
    with open("srv.yaml", "w") as f:
        f.write(GOOD)
    with open("sw.yaml", "w") as f:
        f.write(f"name: sw\nbase: {base}\ngrid:\n  workload.arrival.rate: [4, 8]\n  engine.max_num_seqs: [1, 2]\n")
    assert main(["sweep", "sw.yaml", "-q", "-o", "out"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("accelsim: error: sw.yaml:2: base: ") and " is a serving file (its workload has arrivals)" \
        in line and "accelsim serve" in line and "--sweep KEY=V1,V2,...' (one --sweep a key; several are crossed)" \
        in line, line
    assert not (here / "out").exists()


def test_a_rows_bad_fields_do_not_hide_it_from_the_order_check_and_each_is_named(here, capsys, monkeypatch):
    # the probe's tr_bad.csv (p38, finding 4): line 3 (0.1 s) has two bad fields, line 4 (0.05 s) is the first row
    # arriving before the row above it, line 5 has two bad fields, line 7 (0.25 s after 0.3 s) is out of order too
    # but not the first. Before: lines 3 and 5 with one field each, then line 7 as the "first" out-of-order line
    text = with_trace(b"arrival_s,prompt_tokens,output_tokens\n0.0,100,10\n0.1,abc,-5\n0.05,100,10\n0.2,-1,xyz\n"
                      b"0.3,100,10\n0.25,100,10\n")
    with open("s.yaml", "w") as f:
        f.write(text)
    assert main(["serve", "s.yaml", "-q", "--no-plots", "-o", "out"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "accelsim: error: t.csv:3: prompt_tokens: expected an integer (got 'abc')",
        "accelsim: error: t.csv:3: output_tokens: expected a value >= 1 (got '-5')",
        "accelsim: error: t.csv:4: arrival_s: before line 3's 0.1 s: a trace's rows must be in order of arrival "
        "(request i is its i-th row); sort it by arrival_s (got '0.05')",
        "accelsim: error: t.csv:5: prompt_tokens: expected a value >= 1 (got '-1')",
        "accelsim: error: t.csv:5: output_tokens: expected an integer (got 'xyz')"]
    # 4 rows with a bad prompt_tokens at 0, 1, 2, 3 s, then a good row at 0 s: with 3 problems shown, the first
    # three rows' are and the last two (row 5's field, row 6 out of order) are counted: "2 more problems not shown"
    # (before: the unsorted row was never counted, "1 more")
    monkeypatch.setattr("accelsim.config.schema.MAX_ISSUES", 3)
    rows = b"".join(b"%d,x,2\n" % i for i in range(4)) + b"0,10,2\n"
    with open("s.yaml", "w") as f:
        f.write(with_trace(b"arrival_s,prompt_tokens,output_tokens\n" + rows))
    assert main(["serve", "s.yaml", "-q", "--no-plots", "-o", "out"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[3] == "accelsim: error: t.csv: 2 more problems not shown"
    # with room for all, the good row at 0 s is named out of order after line 5's 3 s
    monkeypatch.setattr("accelsim.config.schema.MAX_ISSUES", 50)
    assert main(["serve", "s.yaml", "-q", "--no-plots", "-o", "out"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "accelsim: error: t.csv:6: arrival_s: before line 5's 3 s: a trace's rows must be in order of arrival "
        "(request i is its i-th row); sort it by arrival_s (got '0')")


# ---- probe p56: errors at the item that caused them; trace rows checked cell by cell ----------------------------

def test_a_model_that_is_not_an_llm_is_the_set_items_that_named_it_not_the_files_line(here, capsys):
    # the file's line 2 names llama2_7b, which is fine: the --set replaced it, so the error is the --set's
    why = "not an LLM workload (its builder needs phase, seq_len and kv_len parameters, as llama2_7b's)"
    text = GOOD.replace(", tensor_parallel: 1", "")  # a parameter resnet50 does not take
    assert cli_error(capsys, text, "--set", "model.model=resnet50") == (
        f"accelsim: error: --set: model: {why} (got 'resnet50')")
    # the file naming it stays the file's line
    assert cli_error(capsys, text.replace("model: llama2_7b", "model: resnet50"), "--set", "model.dtype=fp16") == (
        f"accelsim: error: s.yaml:2: model: {why} (got 'resnet50')")


def test_requests_beside_a_files_duration_is_the_set_items_naming_the_duration_line_and_the_fix(here, capsys):
    text = GOOD.replace("  requests: 5\n", "  duration: 60s\n")  # duration at line 9
    assert cli_error(capsys, text, "--set", "workload.requests=50") == (
        "accelsim: error: --set: workload.requests: give duration or requests, not both (duration 60 s, s.yaml:9); "
        "add --set workload.duration=null")
    # the fix it names runs: 50 requests, no duration
    spec = load_serving("s.yaml", ["workload.requests=50", "workload.duration=null"])
    assert (spec.serve.workload.requests, spec.serve.workload.duration) == (50, None)
    # the other way round: a --set duration over the file's requests (line 9 of GOOD) names the requests
    assert cli_error(capsys, GOOD, "--set", "workload.duration=10s") == (
        "accelsim: error: --set: workload.duration: give duration or requests, not both (requests 5, s.yaml:9); "
        "add --set workload.requests=null")


def test_a_trace_row_with_more_cells_than_the_header_is_an_error_at_its_line(here, capsys):
    # line 2 has 4 cells under a 3-column header: its '5' was dropped in silence before; line 4's trailing commas
    # are 3 empty cells more (6 in all)
    text = with_trace(b"arrival_s,prompt_tokens,output_tokens\n0,100,10,5\n1,100,10\n2,100,10,,,\n")
    with open("s.yaml", "w") as f:
        f.write(text)
    assert main(["serve", "s.yaml", "-q", "--no-plots", "-o", "out"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "accelsim: error: t.csv:2: 4 fields, the header has 3",
        "accelsim: error: t.csv:4: 6 fields, the header has 3"]


@pytest.mark.parametrize("arrival", ["inf", "1e400", "nan", "-inf"])
def test_a_trace_arrival_that_is_not_finite_says_so_as_a_set_does(here, capsys, arrival):
    text = with_trace(b"arrival_s,prompt_tokens,output_tokens\n0,100,10\n%s,100,1\n" % arrival.encode())
    assert cli_error(capsys, text) == f"accelsim: error: t.csv:3: arrival_s: expected a finite number (got '{arrival}')"


# ---- probe p61: huge trace times, a short trace row, an unnamed trailing column; errors at the --set that caused them

def test_a_trace_arrival_beyond_1e9_s_is_one_line_not_an_infinite_makespan(here, capsys):
    # 1e308 is finite, but the arrival window (n mean gaps: 2 × 1e308) overflowed to inf, an internal error, exit 1
    for arrival in ("1e308", "1.000001e9"):
        text = with_trace(b"arrival_s,prompt_tokens,output_tokens\n0,64,4\n%s,64,4\n" % arrival.encode())
        assert cli_error(capsys, text) == (f"accelsim: error: t.csv:3: arrival_s: expected at most 1e9 s (some 32 "
                                           f"years; times are seconds from the trace's start: for Unix timestamps, "
                                           f"subtract the first arrival) (got '{arrival}')")
    # the limit itself reads: two requests 1e9 s apart
    with open("s.yaml", "w") as f:
        f.write(with_trace(b"arrival_s,prompt_tokens,output_tokens\n0,64,4\n1e9,64,4\n"))
    spec = load_serving("s.yaml")
    assert [r.arrival for r in make_requests(spec.serve.workload, spec.trace_file)] == [0.0, 1e9]


def test_a_trace_row_with_fewer_cells_than_the_header_says_so_as_a_longer_one_does(here, capsys):
    # line 3 has 2 cells under a 3-column header: its output_tokens is missing, not written empty; line 4's empty
    # third cell is written (3 fields) and stays the field's error
    text = with_trace(b"arrival_s,prompt_tokens,output_tokens\n0,64,4\n0.1,64\n0.2,64,\n")
    with open("s.yaml", "w") as f:
        f.write(text)
    assert main(["serve", "s.yaml", "-q", "--no-plots", "-o", "out"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "accelsim: error: t.csv:3: 2 fields, the header has 3",
        "accelsim: error: t.csv:4: output_tokens: expected an integer (got '')"]
    # a short row's bad arrival is still named (and kept out of the order check)
    text = with_trace(b"arrival_s,prompt_tokens,output_tokens\n0,64,4\nx\n")
    with open("s.yaml", "w") as f:
        f.write(text)
    assert main(["serve", "s.yaml", "-q", "--no-plots", "-o", "out"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "accelsim: error: t.csv:3: 1 field, the header has 3",
        "accelsim: error: t.csv:3: arrival_s: expected a number (got 'x')"]


def test_a_trace_header_with_a_trailing_comma_is_an_error_at_line_1(here, capsys):
    # the 4th column has no name: its cells were dropped in silence; a first unnamed column (pandas' index) reads
    text = with_trace(b"arrival_s,prompt_tokens,output_tokens,\n0,64,4,\n")
    assert cli_error(capsys, text) == (
        "accelsim: error: t.csv:1: column 4 of the header has no name (a trailing comma?); a trace has the header "
        "arrival_s,prompt_tokens,output_tokens[,prefix_group][,images]")
    # an empty name in the middle is no trailing comma (probe p63)
    text = with_trace(b"arrival_s,,prompt_tokens,output_tokens\n0,1,64,4\n")
    assert cli_error(capsys, text).startswith(
        "accelsim: error: t.csv:1: column 2 of the header has no name (two commas in a row?); ")


def test_a_non_llm_model_set_over_a_preset_with_attention_is_the_set_items(here, capsys):
    # the shipped presets write `attention: fused`, a parameter resnet50 and gemm do not take: the fault is the
    # --set naming them, not the preset's line 8
    why = "not an LLM workload (its builder needs phase, seq_len and kv_len parameters, as llama2_7b's)"
    for name in ("resnet50", "gemm"):
        assert main(["serve", "llama2_7b_h100", "-q", "--no-plots", "-o", "out", "--set", f"model.model={name}"]) == 2
        assert capsys.readouterr().err.strip() == f"accelsim: error: --set: model: {why} (got '{name}')"


@pytest.mark.parametrize("removed, other, way", [
    ("requests", "  requests: 5\n", "add --set workload.duration=T (e.g. 60s)"),
    ("duration", "  duration: 60s\n", "add --set workload.requests=N"),
])
def test_duration_or_requests_removed_by_a_set_is_the_set_items(here, capsys, removed, other, way):
    # the file gives one of them (valid); --set ...=null removes it, so neither is left: the --set's fault, not the
    # file's workload: line (line 5)
    text = GOOD.replace("  requests: 5\n", other)
    assert cli_error(capsys, text, "--set", f"workload.{removed}=null") == (
        f"accelsim: error: --set: workload.{removed}: give duration or requests (one of them); with {removed} null, "
        f"{way}")
    # a file giving neither stays at its workload: line
    assert cli_error(capsys, GOOD.replace("  requests: 5\n", "")) == (
        "accelsim: error: s.yaml:5: workload: give duration or requests (one of them)")
